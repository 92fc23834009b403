import Foundation
import LabAnalysis
import LabWire
import LabCore
import LabModel
import Testing

@testable import LabRunner

/// The one instance path with the bare backend and host programs: no root,
/// no image. The same path runs containers and guests.
@Suite("instance path (bare backend, host programs)")
struct InstanceRunTests {
    let bare = BareBackend(agent: "/nonexistent/isolab-agent")

    @Test func outputPhasesAndExitOfAProgram() async throws {
        let outcome = try await InstanceRun.run(bare, InstanceRequest(.command(["sh", "-c", "echo 'ISOLAB READY version=1'; echo x; exit 3"]), timeout: 30))
        #expect(outcome.exit == .exited(3))
        #expect(outcome.output.contains("x"))
        #expect(outcome.timeline.phases.map(\.name) == ["spawn_start", "spawned", "first_byte", "ready", "exited", "cleaned"])
        let instants = outcome.timeline.phases.map(\.ns)
        #expect(instants == instants.sorted())
        #expect(outcome.figures.cpuInstrument?.contains("rusage") == true)
    }

    @Test func aDeadlineEndsTheInstanceAndNothingIsLeft() async throws {
        let started = MonotonicClock.now()
        var pid: Int32?
        do {
            _ = try await InstanceRun.run(bare, InstanceRequest(.command(["sh", "-c", "echo $$; exec sleep 60"]), timeout: 0.5))
            Issue.record("a 60 s sleep finished within 0.5 s")
        } catch let error as LabError {
            #expect(error.code == .timeout)
            #expect(error.message.contains("did not finish within 0.5 s and was ended"), "\(error.message)")
            pid = Int32(error.message.split(separator: " ").last.map(String.init) ?? "")
        }
        #expect(MonotonicClock.now() - started < 20_000_000_000, "the deadline must end it, not wait for it")
        if let pid { #expect(!ProcessState.isAlive(pid)) }
    }

    @Test func anErrorDuringTheRunStillTearsDown() async throws {
        struct Boom: Error {}
        let seen = PIDBox()
        do {
            _ = try await InstanceRun.run(bare, InstanceRequest(.command(["sleep", "60"]), timeout: 30)) { instance in
                seen.set(instance.hostProcesses().first)
                throw Boom()
            }
            Issue.record("the error was swallowed")
        } catch is Boom {}
        let pid = try #require(seen.value)
        #expect(!ProcessState.isAlive(pid))
    }

    @Test func duringRunsBesideTheReadingAndEndsTheInstance() async throws {
        let outcome = try await InstanceRun.run(bare, InstanceRequest(.command(["sleep", "60"]), timeout: 30)) { _ in
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        #expect(outcome.exit == .signaled(SIGKILL, reason: "killed by signal 9 (Killed)"))
    }

    @Test func aMissingProgramIsBadInputAndStartsNothing() async throws {
        do {
            _ = try await InstanceRun.run(bare, InstanceRequest(.command(["no-such-program-here"]), timeout: 5))
            Issue.record("started a missing program")
        } catch let error as LabError {
            #expect(error.code == .invalidInput && error.message.contains("no-such-program-here"))
        }
    }

    /// The shell forks its sleep (`; true` after it): were the sleep exec'd in
    /// the shell's place, the sample at READY could meet the exec half-way.
    /// The sample runs on a thread of its own: on a loaded 2-core host
    /// (`make unit` in parallel beside a release build) it once came more
    /// than 2 s after READY and found the shell gone. 6 s leaves room.
    @Test(.enabled(if: geteuid() == 0 || ProcessInfo.processInfo.environment["ISOLAB_REQUIRE_ALL"] == "1", "needs root (the memory instrument reads every process it samples)"))
    func memoryIsSampledAtReady() async throws {
        let outcome = try await InstanceRun.run(bare, InstanceRequest(.command(["sh", "-c", "echo 'ISOLAB READY version=1'; sleep 6; true"]), timeout: 30))
        #expect((outcome.memory.pssAtReadyKiB ?? 0) > 0)
        #expect(outcome.memory.processesAtReady == 1)
        #expect(outcome.memory.memAvailableDropKiB != nil)
    }
}

final class PIDBox: @unchecked Sendable {
    private let lock = NSLock()
    private var pid: Int32?
    func set(_ value: Int32?) { lock.withLock { pid = value } }
    var value: Int32? { lock.withLock { pid } }
}

@Suite("trial records")
struct TrialRecordTests {
    func outcome(kind: BackendKind, output: String, exit: InstanceExit = .exited(0), phases: [(String, UInt64)]) -> InstanceOutcome {
        var timeline = Timeline()
        for (name, ns) in phases { timeline.mark(name, at: ns) }
        var memory = MemoryFigures()
        memory.pssAtReadyKiB = 2048
        return InstanceOutcome(id: "x", kind: kind, accelerator: kind == .vm ? .tcg : nil, timeline: timeline, output: output,
                               lines: AgentLine.parseAll(output), exit: exit, memory: memory,
                               figures: BackendFigures(cpuNs: 3_000_000, cpuInstrument: "test"), diskImageBytes: 1 << 20, diskInstanceBytes: 4096)
    }

    @Test func aVMTrialSplitsTheStartByTheGuestsClock() {
        let planned = Runner.PlannedTrial(index: 4, round: 1, backend: .vm, warmup: false)
        let record = Runner.record(planned, outcome: outcome(
            kind: .vm,
            output: "ISOLAB READY version=1 uptime_ns=3000000000\nISOLAB RESULT {\"workload\":\"cpu\",\"params\":{},\"metric\":\"sieve\",\"value\":5,\"unit\":\"sieves/s\",\"duration_ns\":1}\nISOLAB DONE exit=0 max_rss_kb=4096\n",
            exit: .poweredOff,
            phases: [("define_start", 1_000_000_000), ("ready", 5_000_000_000), ("exited", 6_000_000_000), ("cleaned", 6_500_000_000)]))
        func value(_ metric: String) -> Double? { record.samples.first { $0.metric == metric }?.value }
        #expect(record.error == nil)
        #expect(value("ready") == 4000)
        #expect(value("guest_uptime_at_ready") == 3000)
        #expect(value("before_guest_clock") == 1000)
        #expect(value("teardown") == 500)
        #expect(value("pss") == 2)
        #expect(value("disk_image") == 1)
        #expect(value("disk_instance") == 4)
        #expect(value("agent_rss") == 4)
        #expect(value("cpu_time") == 3)
        #expect(value("sieve") == 5)
        #expect(record.accelerator == .tcg)
        #expect(record.timeline.first?.ns == 0)
    }

    @Test func aFailedAgentOrAMissingReadyIsAnError() {
        let planned = Runner.PlannedTrial(index: 0, round: 0, backend: .container, warmup: false)
        let failed = Runner.record(planned, outcome: outcome(
            kind: .container, output: "ISOLAB READY version=1\nISOLAB ERROR {\"error\":\"bad\"}\nISOLAB DONE exit=2\n", exit: .exited(2),
            phases: [("spawn_start", 1), ("ready", 2)]))
        #expect(failed.error?.contains("the agent exited with 2") == true)
        let silent = Runner.record(planned, outcome: outcome(kind: .container, output: "", exit: .exited(0), phases: [("spawn_start", 1)]))
        #expect(silent.error == "no READY from the agent")
        let killed = Runner.record(planned, outcome: outcome(
            kind: .container, output: "ISOLAB READY version=1\n", exit: .signaled(9, reason: "killed by the memory limit (32 MiB)"),
            phases: [("spawn_start", 1), ("ready", 2)]))
        #expect(killed.error == "container x killed by the memory limit (32 MiB)")
    }
}

@Suite("density: when MemAvailable has settled")
struct MemAvailableCalmTests {
    @Test func calmNeedsThreeSecondsWithinThreeMiB() {
        let steady = Array(repeating: 20_000.0, count: 13)
        #expect(DensityRamp.isCalm(steady))
        // Too few readings: not yet three seconds.
        #expect(!DensityRamp.isCalm(Array(steady.dropFirst())))
        // An 8 MiB step inside the window (free page reporting returning memory).
        var drifting = steady
        drifting[6] += 8
        #expect(!DensityRamp.isCalm(drifting))
        // The same step before the window no longer counts.
        #expect(DensityRamp.isCalm([20_008] + steady))
    }
}

/// One statement per claim: the demos name their claim in the catalogue's
/// words, so the class and the claims table cannot word it two ways.
@Suite("claims and demos share their statements")
struct ClaimStatementTests {
    @Test func everyDemosClaimIsACatalogueStatement() {
        let statements = Set(ClaimCatalogue.entries.map(\.statement))
        for demo in Demos.list { #expect(statements.contains(demo.claim), "\(demo.name): \(demo.claim)") }
        #expect(Set(ClaimCatalogue.entries.map(\.id)).count == ClaimCatalogue.entries.count)
    }
}
