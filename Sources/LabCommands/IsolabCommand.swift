import ArgumentParser
import LabCore
import LabModel

/// The root command; one file per subcommand, grouped by noun.
public struct IsolabCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "isolab",
        abstract: "Measure what a container, a VM and a bare process cost for the same workload.",
        discussion: """
            isolab runs the same workload as a bare process, in its own namespace/cgroup containers \
            and in libvirt/QEMU virtual machines, times every phase of startup, measures memory, CPU \
            and disk overhead, and writes CSV, JSON and HTML reports.
            State lives in $ISOLAB_HOME (default /var/lib/isolab).
            """,
        version: LabVersion.current,
        subcommands: [Run.self, Report.self, CompareCommand.self, DemoCommand.self, Doctor.self, ImageCommand.self, ContainerCommand.self, VMCommand.self, GC.self]
    )

    public init() {}

    /// Runs the command line, turning the lab's errors into one-line messages
    /// and the right exit status (2 for bad input).
    public static func start() async {
        StartTrace.mark("main")
        do {
            var command = try parseAsRoot()
            StartTrace.mark("parsed")
            // A command that writes state makes $ISOLAB_HOME private first.
            // A tree an older lab left is repaired, and each change said.
            if command is any WritesLabState {
                for repair in try LabPaths.fromEnvironment().secureStateDirectory() { FileOutput.standardError("isolab: \(repair)\n") }
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            // Interrupted while the command wound up by itself (its instance
            // torn down under it): the exit status is the interruption's.
            if let signal = CleanupRegistry.shared.interrupted { exitInterrupted(signal) }
            StartTrace.mark("ran")
        } catch let error as LabError {
            FileOutput.standardError("isolab: \(error)\n")
            // An error that an interruption caused (a guest torn down by the
            // signal's clean-up under a start in progress) is the interruption.
            if let signal = CleanupRegistry.shared.interrupted { exitInterrupted(signal) }
            Self.exit(withError: ExitCode(error.exitStatus))
        } catch {
            // A usage error is bad input like any other: one line, exit 2
            // (argument-parser would print the usage too and exit 64).
            if Self.exitCode(for: error) == .validationFailure {
                let message = Self.message(for: error).split(separator: "\n").first.map(String.init) ?? "bad arguments"
                FileOutput.standardError("isolab: \(message); see '\(Self.commandPath()) --help'\n")
                Self.exit(withError: ExitCode(2))
            }
            if let signal = CleanupRegistry.shared.interrupted { exitInterrupted(signal) }
            Self.exit(withError: error)
        }
    }

    /// Ends the process on an interruption's account: once the signal's
    /// teardowns have run, with 128 + the signal.
    static func exitInterrupted(_ signal: Int32) -> Never {
        CleanupRegistry.shared.waitForInterruptTeardown()
        Self.exit(withError: ExitCode(128 + signal))
    }

    /// `isolab container run`: the subcommands named on the command line.
    static func commandPath() -> String {
        var path = ["isolab"]
        var level: [ParsableCommand.Type] = configuration.subcommands
        for argument in CommandLine.arguments.dropFirst() {
            guard let command = level.first(where: { $0._commandName == argument }) else { break }
            path.append(argument)
            level = command.configuration.subcommands
        }
        return path.joined(separator: " ")
    }
}

/// `container run` and `vm run` capture their command for passthrough, and
/// argument-parser then hands them `-h` or `--help` as the command's first
/// word. Before any `--` it is a request for the command's own help.
func asksForHelp(_ captured: [String]) -> Bool {
    ["-h", "--help", "-help"].contains(captured.first ?? "")
}

/// A command that creates files in `$ISOLAB_HOME`: before it runs, the
/// directory is created or repaired to 0710 (group QEMU's) or 0700, so that
/// no other local user reaches images, console sockets or state files, and
/// the lab's directories on QEMU's way let it pass (`secureStateDirectory`).
protocol WritesLabState {}
