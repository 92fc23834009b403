import ArgumentParser
import Foundation
import LabCore
import LabImage

/// `isolab image inspect REF`.
struct ImageInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Print an image's manifest as JSON (an OCI image's: with its layers' sizes and the images sharing each).",
        discussion: "REF is a name or a digest prefix of at least 8 hex digits.")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image name or digest prefix.") var reference: String

    func run() throws {
        let store = ImageStore(paths: .fromEnvironment())
        let record = try store.resolve(reference)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var bytes = try encoder.encode(record.manifest)
        if let oci = record.manifest.oci {
            // Beside the manifest: each layer's sizes and the images that share it.
            let users = ImageStore.layerUsers(store.list())
            var object = try JSONSerialization.jsonObject(with: bytes) as? [String: Any] ?? [:]
            object["layerSharing"] = oci.layers.map { layer in
                ["chainID": layer.chainID.description, "blob": layer.blob.digest.description, "compressedBytes": layer.blob.size,
                 "unpackedBytes": layer.unpackedBytes, "images": (users[layer.chainID.hex] ?? []).sorted()] as [String: Any]
            }
            bytes = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        }
        FileOutput.standardOutput(String(decoding: bytes, as: UTF8.self) + "\n")
    }
}
