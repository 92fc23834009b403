import ArgumentParser
import Foundation
import LabCore
import LabModel
import LabReport
import LabRunner

/// `isolab demo list | NAME | all`: the claims of the notes shown live.
struct DemoCommand: AsyncParsableCommand, WritesLabState {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Show one claim of the notes live, inside against outside, with a control (isolab demo list).",
        discussion: """
            Each demo prints numbered steps: what the lab does, the command or system call a student \
            could type, what to expect, and what was seen inside and on the host; then a negative \
            control (the same probe without the feature, which must see the host's object), and a \
            verdict: PASS (exit 0) or FAIL (exit 1). Bad input exits with 2. Everything a demo makes \
            is removed afterwards, on Ctrl-C too. See docs/demos.md for a 45-minute class.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "list, all, or a demo's name.")
    var name: String

    @Flag(help: "Class mode: wait for Enter after each step.")
    var pause = false

    @Flag(help: "Print the records as JSON (no narration).")
    var json = false

    @Option(help: "Also write a one-page HTML handout of the demo(s) to this file.")
    var html: String?

    @Flag(name: .customLong("no-vm"), help: "With all: leave out the demos that boot a VM (kernel, race).")
    var noVM = false

    @Option(name: .customLong("libvirt-uri"), help: "libvirt connection URI.")
    var libvirtURI = "qemu:///system"

    func run() async throws {
        _ = global.bootstrapLogging()
        if name == "list" {
            let width = Demos.list.map(\.name.count).max() ?? 4
            for demo in Demos.list {
                FileOutput.standardOutput("\(demo.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(demo.title)\(demo.needsVM ? " (boots a VM)" : "")\n")
            }
            return
        }
        let names = name == "all" ? Demos.list.filter { !(noVM && $0.needsVM) }.map(\.name) : [name]
        guard name == "all" || Demos.names.contains(name) else {
            throw LabError(.invalidInput, "no demo named '\(name)'; accepted: list, all, \(Demos.names.joined(separator: ", "))")
        }
        if let html {
            let directory = (html as NSString).deletingLastPathComponent
            guard directory.isEmpty || FileSystem.isDirectory(directory) else {
                throw LabError(.invalidInput, "--html \(html): the directory \(directory) does not exist")
            }
        }
        guard geteuid() == 0 else { throw LabError(.invalidInput, "the demos need root (namespaces, mounts, cgroups); run as root") }
        CleanupRegistry.shared.installSignalHandlers()
        let terminal = isatty(2) == 1
        var options = DemoOptions()
        options.libvirtURI = libvirtURI
        if !json {
            options.onStep = { step, isControl in
                FileOutput.standardOutput((terminal ? "\r\u{1B}[K" : "") + DemoReport.step(step, isControl: isControl))
            }
            options.onLive = { line in if terminal { FileOutput.standardError("\r\u{1B}[K" + line) } }
        }
        if pause {
            options.pause = {
                FileOutput.standardError("   (Enter for the next step)")
                Self.waitForEnter()
                FileOutput.standardError("\r\u{1B}[K")
            }
        }
        var records: [DemoRecord] = []
        for demo in names {
            if !json, let entry = Demos.list.first(where: { $0.name == demo }) {
                FileOutput.standardOutput(DemoReport.heading(name: entry.name, title: entry.title, claim: entry.claim))
            }
            let record = try await Demos.run(demo, options: options)
            CleanupRegistry.shared.parkIfInterrupted()
            records.append(record)
            if !json { FileOutput.standardOutput(DemoReport.verdict(record) + "\n") }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = names.count == 1 && name != "all" ? try encoder.encode(records[0]) : try encoder.encode(records)
            FileOutput.standardOutput(String(decoding: data, as: UTF8.self) + "\n")
        } else if records.count > 1 {
            FileOutput.standardOutput(DemoReport.summary(records))
        }
        if let html {
            try FileSystem.writeAtomically(html, text: DemoReport.html(records))
            if !json { FileOutput.standardOutput("handout: \(html)\n") }
        }
        if records.contains(where: { !$0.verdict.pass }) { throw ExitCode(1) }
    }

    /// Reads up to a newline from the terminal (or stdin).
    static func waitForEnter() {
        let fd = open("/dev/tty", O_RDONLY | O_CLOEXEC)
        let input = fd >= 0 ? fd : 0
        defer { if fd >= 0 { close(fd) } }
        var byte: UInt8 = 0
        while read(input, &byte, 1) == 1 && byte != 0x0A {}
    }
}
