import ArgumentParser
import Foundation
import LabCore
import LabImage
import LabModel

/// `isolab image ls`.
struct ImageList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List stored images.")

    @OptionGroup var global: GlobalOptions

    @Option(help: "Output format: text or json.")
    var format: OutputFormat = .text

    func run() throws {
        let records = ImageStore(paths: .fromEnvironment()).list()
        switch format {
        case .json:
            let rows = records.map { ListedImage(names: $0.names, digest: $0.manifest.digest, created: $0.manifest.created,
                                                 footprint: $0.manifest.footprint) }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileOutput.standardOutput(String(decoding: try encoder.encode(rows), as: UTF8.self) + "\n")
        case .text:
            var table = [["NAME", "DIGEST", "ROOTFS", "INITRAMFS", "LAYERS", "CREATED"]]
            let sharing = ImageStore.layerUsers(records)
            for record in records {
                // An OCI image's layers, and how many of them other images share.
                let layers = record.manifest.oci.map { oci in
                    let shared = oci.layers.filter { (sharing[$0.chainID.hex]?.count ?? 0) > 1 }.count
                    return "\(oci.layers.count)" + (shared > 0 ? " (\(shared) shared)" : "")
                } ?? "-"
                table.append([
                    record.names.isEmpty ? "<none>" : record.names.joined(separator: ","),
                    String(record.manifest.digestHex.prefix(12)),
                    ByteSize.format(UInt64(record.manifest.footprint.rootfsBytes)),
                    ByteSize.format(UInt64(record.manifest.footprint.initramfsBytes)),
                    layers,
                    record.manifest.created,
                ])
            }
            FileOutput.standardOutput(TextTable.render(table))
        }
    }

    struct ListedImage: Encodable {
        var names: [String]
        var digest: String
        var created: String
        var footprint: ImageManifest.Footprint
    }
}

/// How a command prints what it found.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

enum TextTable {
    /// Left-aligned columns separated by two spaces.
    static func render(_ rows: [[String]]) -> String {
        let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
}
