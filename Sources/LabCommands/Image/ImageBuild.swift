import ArgumentParser
import Foundation
import LabCore
import LabImage
import LabModel

/// `isolab image build FILE | --builtin busybox|debian`.
struct ImageBuild: ParsableCommand, WritesLabState {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build an image from a YAML definition (docs/images.md) or the built-in one.",
        discussion: "A rebuild whose inputs have not changed is a cache hit and writes nothing new."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The image definition (YAML).")
    var file: String?

    @Option(help: "Build a built-in image instead of a file: busybox, debian (a whole OS, docs/full-os.md), or an OCI image the lab makes: busybox-oci, debian-oci, layered (docs/images.md).")
    var builtin: String?

    /// Bad input is checked here rather than in validate(): argument-parser
    /// follows a validation error with the usage and exits 64, and the lab's
    /// bad input is one line with exit status 2.
    func checkInput() throws {
        guard (file == nil) != (builtin == nil) else {
            throw LabError(.invalidInput, "give either an image FILE or --builtin busybox|debian|busybox-oci|debian-oci|layered")
        }
        if let builtin, ImageDefinition.builtin(builtin) == nil, !BuiltinOCI.names.contains(builtin) {
            throw LabError(.invalidInput, "unknown built-in image '\(builtin)'; accepted: busybox, debian, \(BuiltinOCI.names.joined(separator: ", "))")
        }
    }

    func run() throws {
        try checkInput()
        _ = global.bootstrapLogging()
        let start = MonotonicClock.now()
        let builder = ImageBuilder(store: ImageStore(paths: .fromEnvironment()), agentPath: try ImageBuilder.defaultAgentPath())
        if let builtin, let record = try BuiltinOCI.build(builtin, builder: builder) {
            let ms = Double(MonotonicClock.now() - start) / 1e6
            FileOutput.standardOutput(String(format: "%@ %@ (OCI, %d layers, %@ unpacked) in %.0f ms\n", record.manifest.name,
                                             String(record.manifest.digestHex.prefix(12)), record.manifest.oci?.layers.count ?? 0,
                                             ByteSize.format(UInt64(record.manifest.totalBytes)), ms))
            return
        }
        let definition = try file.map { try ImageDefinition.load(file: $0) } ?? ImageDefinition.builtin(builtin!)!
        let result = try builder.build(definition)
        let ms = Double(MonotonicClock.now() - start) / 1e6
        for warning in result.warnings { FileOutput.standardError("isolab: warning: \(warning)\n") }
        let manifest = result.record.manifest
        FileOutput.standardOutput(String(
            format: "%@ %@ %@ (%@ rootfs, %@ %@) in %.0f ms\n",
            result.cached ? "cached" : "built", manifest.name, String(manifest.digestHex.prefix(12)),
            ByteSize.format(UInt64(manifest.footprint.rootfsBytes)), ByteSize.format(UInt64(manifest.footprint.initramfsBytes)),
            manifest.footprint.initramfsFile, ms))
    }
}
