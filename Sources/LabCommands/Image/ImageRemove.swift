import ArgumentParser
import LabCore
import LabImage

/// `isolab image rm REF`.
struct ImageRemove: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Remove an image and the names that point at it.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image name or digest prefix.") var reference: String

    func run() throws {
        let record = try ImageStore(paths: .fromEnvironment()).remove(reference)
        FileOutput.standardOutput("removed \(record.names.isEmpty ? "<none>" : record.names.joined(separator: ",")) \(record.manifest.digestHex.prefix(12))\n")
    }
}
