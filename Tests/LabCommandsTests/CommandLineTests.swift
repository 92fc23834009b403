import ArgumentParser
import LabModel
import Testing

@testable import LabCommands

/// The command line parsed as the process parses it (`parseAsRoot`), with
/// no root, no host and nothing run: subcommands, option types, and the
/// options' own checks, each a one-line error the process turns into exit 2.
@Suite("the command line")
struct CommandLineTests {
    func parse(_ arguments: [String]) throws -> any ParsableCommand { try IsolabCommand.parseAsRoot(arguments) }

    /// The one line `isolab` prints for a parse error, and whether it exits 2.
    func failure(_ arguments: [String]) -> (message: String, badInput: Bool)? {
        do {
            _ = try parse(arguments)
            return nil
        } catch let error as LabError {
            return (error.message, error.exitStatus == 2)
        } catch {
            return (IsolabCommand.message(for: error), IsolabCommand.exitCode(for: error) == .validationFailure)
        }
    }

    @Test func subcommandsAndTheirOptionsParse() throws {
        let run = try #require(try parse(["run", "scenarios/quick.yaml", "--backends", "bare,container", "--repetitions", "4", "--seed", "9"]) as? Run)
        #expect(run.scenario == "scenarios/quick.yaml" && run.repetitions == 4 && run.seed == 9)
        #expect(try run.backendKinds() == [.bare, .container])
        let container = try #require(try parse(["container", "run", "--memory", "64M", "--pids", "16", "--", "/bin/true"]) as? ContainerRun)
        #expect(container.memory == "64M" && container.pids == 16)
        #expect(try parse(["report", "r/results.json", "--format", "text"]) is Report)
        #expect(try parse(["compare", "a.json", "b.json"]) is CompareCommand)
        #expect(try parse(["vm", "run", "--", "noop"]) is VMRunCommand)
        #expect(try parse(["image", "ls"]) is ImageList)
        #expect(try parse(["doctor", "--json"]) is Doctor)
        #expect(try parse(["gc"]) is GC)
    }

    @Test func badOptionsAreBadInputBeforeAnythingRuns() throws {
        let cases: [([String], String)] = [
            (["run", "s.yaml", "--repetitions", "0"], "--repetitions 0 must be at least 1"),
            (["run", "s.yaml", "--max-instances", "0"], "--max-instances 0 must be at least 1"),
            (["run", "s.yaml", "--budget", "-1"], "--budget -1.0 must be a positive number of seconds"),
            (["run", "s.yaml", "--backends", "bare,docker"], "--backends: unknown backend 'docker'"),
            (["run", "s.yaml", "--repetitions", "many"], "many"),
            (["run"], "scenario"),
            (["frobnicate"], "frobnicate"),
        ]
        for (arguments, expected) in cases {
            let result = try #require(failure(arguments), "\(arguments) parsed")
            #expect(result.badInput, "\(arguments): \(result.message)")
            #expect(result.message.contains(expected), "\(arguments): \(result.message)")
            #expect(!result.message.contains("\n"), "\(arguments): more than one line: \(result.message)")
        }
    }
}

/// One validator: the command line and the scenario file accept the same
/// ranges (they disagreed on cpus, pids and the boot timeout).
@Suite("one set of ranges for the command line and the scenario")
struct InputRangeTests {
    func containerRejects(_ arguments: [String]) throws -> String? {
        let command = try #require(try IsolabCommand.parseAsRoot(["container", "run"] + arguments + ["--", "/bin/true"]) as? ContainerRun)
        do {
            try command.checkInput()
            return nil
        } catch let error as LabError {
            return error.message
        }
    }

    func scenarioRejects(_ line: String) -> String? {
        do {
            _ = try Scenario.parse("name: r\n" + line + "\n", file: "r.yaml")
            return nil
        } catch let error as LabError {
            return error.message
        } catch {
            return "\(error)"
        }
    }

    @Test func bothSidesRejectTheSameValues() throws {
        for (option, key, value) in [("--cpus", "cpus", "0.001"), ("--pids", "pids", "5000000"), ("--cpu-weight", "cpu_weight", "0")] {
            let cli = try containerRejects([option, value])
            let file = scenarioRejects("limits: {\(key): \(value)}")
            #expect(cli != nil && file != nil, "\(option) \(value): command line \(cli ?? "accepted"), scenario \(file ?? "accepted")")
        }
        for (option, key, value) in [("--cpus", "cpus", "0.01"), ("--pids", "pids", "4194304"), ("--cpu-weight", "cpu_weight", "10000")] {
            #expect(try containerRejects([option, value]) == nil, "\(option) \(value)")
            #expect(scenarioRejects("limits: {\(key): \(value)}") == nil, "\(key): \(value)")
        }
        let vm = try #require(try IsolabCommand.parseAsRoot(["vm", "run", "--boot-timeout", "0.5", "--", "noop"]) as? VMRunCommand)
        #expect(throws: LabError.self) { _ = try vm.checkInput() }
        #expect(scenarioRejects("vm: {boot_timeout: 0.5}") != nil)
    }
}
