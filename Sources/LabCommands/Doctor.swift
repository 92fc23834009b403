import ArgumentParser
import Foundation
import LabCore
import LabDoctor
import LabModel

/// `isolab doctor`: what the host offers the lab, tried for real.
struct Doctor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the host: namespaces, cgroups, libvirt, accelerators, guest kernel, peers.",
        discussion: """
            Prints one row per capability: what was found, whether it is usable and, when not, how \
            to fix it. KVM is judged by booting a minimal guest under a time limit; the verdict is \
            cached in $ISOLAB_HOME/cache/accelerators.json, keyed by the host kernel, QEMU, libvirt \
            and guest kernel versions. Exit status 0 when the lab can run containers and at least one \
            kind of VM, 1 otherwise.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the facts as one JSON object (keys documented in docs/doctor.md).")
    var json = false

    @Option(help: "Also write the JSON facts to this file (atomically).")
    var output: String?

    @Option(name: .customLong("libvirt-uri"), help: "libvirt connection URI.")
    var libvirtURI = "qemu:///system"

    @Option(name: .customLong("kvm-timeout"), help: "Seconds a KVM probe guest gets to reach user space.")
    var kvmTimeout: Double = 20

    @Flag(help: "Boot the accelerator probes again even when a cached verdict matches.")
    var reprobe = false

    /// Bad input is checked here rather than in validate(): argument-parser
    /// follows a validation error with the usage and exits 64, and the lab's
    /// bad input is one line with exit status 2.
    func checkInput() throws {
        guard kvmTimeout > 0, kvmTimeout <= 600 else {
            throw LabError(.invalidInput, "--kvm-timeout must be between 0 and 600 seconds, got \(kvmTimeout)")
        }
    }

    func run() async throws {
        try checkInput()
        let logger = global.bootstrapLogging()
        var options = LabDoctor.Doctor.Options()
        options.libvirtURI = libvirtURI
        options.kvmTimeout = kvmTimeout
        options.reprobe = reprobe
        let report = await LabDoctor.Doctor(options: options, logger: logger).run()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(report)
        if let output {
            try FileSystem.writeAtomically(output, bytes: Array(data) + [10])
        }
        if json {
            FileOutput.standardOutput(String(decoding: data, as: UTF8.self) + "\n")
        } else {
            FileOutput.standardOutput(report.renderTable())
        }
        if report.exitStatus != 0 {
            throw ExitCode(report.exitStatus)
        }
    }
}
