import ArgumentParser
import Foundation
import LabContainer
import LabCore
import LabModel
import LabRunner

/// `isolab container escape-test`: the escape suite, inside and outside.
struct ContainerEscapeTest: AsyncParsableCommand, WritesLabState {
    static let configuration = CommandConfiguration(
        commandName: "escape-test",
        abstract: "Try to reach the host from root in a container; each attempt also runs on the host, where it must succeed.",
        discussion: """
            Each probe (mknod of the host's disk, writing /proc/sysrq-trigger and core_pattern, reading \
            /proc/kcore, mounting, loading a module, kexec, open_by_handle_at, bpf, perf_event_open, \
            keyctl, a user namespace and a mount, ptrace of a host process, the chroot escape, TIOCSTI) \
            is harmless by construction. A refusal inside counts only when the same probe is allowed on \
            the host as root (the positive control); where the host itself refuses it, the probe is \
            inconclusive, with the host's errno. Exit status 1 if any probe escaped.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "The container's seccomp profile: default or unconfined.")
    var seccomp: Seccomp.Profile = .default

    @Flag(name: .customLong("host-devices"), help: "Leave the host's device rules (no devices cgroup or device program).")
    var hostDevices = false

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() async throws {
        _ = global.bootstrapLogging()
        guard geteuid() == 0 else { throw LabError(.invalidInput, "the escape test needs root: its positive control runs each probe as root on the host") }
        let record = try ContainerImage.resolve(nil)
        CleanupRegistry.shared.installSignalHandlers()
        let evidence = try await EscapeSuite.run(rootfs: record.rootfs, seccomp: seccomp, restrictDevices: !hostDevices)
        CleanupRegistry.shared.parkIfInterrupted()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            FileOutput.standardOutput(String(decoding: try encoder.encode(evidence), as: UTF8.self) + "\n")
        } else {
            FileOutput.standardOutput(EscapeSuite.table(evidence))
        }
        // An escape, or a probe that gave no result (the suite did not finish): not a pass.
        if evidence.count(.escaped) > 0 || evidence.count(.notRun) > 0 { throw ExitCode(1) }
    }
}

extension Seccomp.Profile: ExpressibleByArgument {}
