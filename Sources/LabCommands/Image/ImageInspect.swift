import ArgumentParser
import Foundation
import LabCore
import LabImage

/// `isolab image inspect REF`.
struct ImageInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Print an image's manifest as JSON.",
        discussion: "REF is a name or a digest prefix of at least 8 hex digits.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image name or digest prefix.") var reference: String

    func run() throws {
        let record = try ImageStore(paths: .fromEnvironment()).resolve(reference)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        FileOutput.standardOutput(String(decoding: try encoder.encode(record.manifest), as: UTF8.self) + "\n")
    }
}
