import ArgumentParser
import Foundation
import LabCore
import LabImage

/// `isolab image build FILE | --builtin busybox`.
struct ImageBuild: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Build an image from a YAML definition (docs/images.md) or the built-in one.",
        discussion: "A rebuild whose inputs have not changed is a cache hit and writes nothing new."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The image definition (YAML).")
    var file: String?

    @Option(help: "Build a built-in image instead of a file: busybox.")
    var builtin: String?

    func validate() throws {
        guard (file == nil) != (builtin == nil) else {
            throw ValidationError("give either an image FILE or --builtin busybox")
        }
        if let builtin, ImageDefinition.builtin(builtin) == nil {
            throw ValidationError("unknown built-in image '\(builtin)'; accepted: busybox")
        }
    }

    func run() throws {
        _ = global.bootstrapLogging()
        let definition = try file.map { try ImageDefinition.load(file: $0) } ?? ImageDefinition.builtin(builtin!)!
        let start = MonotonicClock.now()
        let builder = ImageBuilder(store: ImageStore(paths: .fromEnvironment()), agentPath: try ImageBuilder.defaultAgentPath())
        let result = try builder.build(definition)
        let ms = Double(MonotonicClock.now() - start) / 1e6
        let manifest = result.record.manifest
        FileOutput.standardOutput(String(
            format: "%@ %@ %@ (%@ rootfs, %@ %@) in %.0f ms\n",
            result.cached ? "cached" : "built", manifest.name, String(manifest.digestHex.prefix(12)),
            ByteFormat.string(manifest.footprint.rootfsBytes), ByteFormat.string(manifest.footprint.initramfsBytes),
            manifest.footprint.initramfsFile, ms))
    }
}

enum ByteFormat {
    /// `4.2 MiB`.
    static func string(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
