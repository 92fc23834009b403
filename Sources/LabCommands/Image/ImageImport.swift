import ArgumentParser
import LabCore
import LabImage
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// What the layers of an image held that the lab does not make (import and pull).
public enum ImageWarnings {
    public static func skipped(_ entries: [String]) {
        for entry in entries.prefix(5) { FileOutput.standardError("isolab: warning: skipped \(entry): a layer makes no device nodes\n") }
        if entries.count > 5 { FileOutput.standardError("isolab: warning: skipped \(entries.count - 5) more device nodes\n") }
    }
}

/// `isolab image import PATH[:REF] [--name NAME]`.
struct ImageImport: ParsableCommand, WritesLabState {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Import an OCI image layout (a directory or its tar) or a docker save archive.",
        discussion: """
            REF picks the image by its org.opencontainers.image.ref.name (the tag for a docker save \
            archive), as skopeo's oci:PATH:REF does; a layout holding several images needs one. \
            Every blob is checked against its digest; layers are stored once and shared with every \
            image that has them, and unpacked once (whiteouts as the overlay's). The image runs with \
            isolab container run --image NAME, the lab's agent injected, the image unchanged.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "PATH[:REF]: an OCI image layout directory, its tar, or a docker save archive.")
    var source: String

    @Option(help: "The name to store it under (default: REF, or the ref the layout names).")
    var name: String?

    func run() throws {
        _ = global.bootstrapLogging()
        // Unpacking keeps the layers' owners and makes whiteout devices: root's work.
        guard geteuid() == 0 else { throw LabError(.invalidInput, "image import must run as root (it unpacks layers with their owners); use sudo") }
        CleanupRegistry.shared.installSignalHandlers()
        let result = try OCIImporter(images: ImageStore(paths: .fromEnvironment())).importImage(source, name: name)
        CleanupRegistry.shared.parkIfInterrupted()
        ImageWarnings.skipped(result.skipped)
        let manifest = result.record.manifest
        let layers = manifest.oci?.layers.count ?? 0
        FileOutput.standardOutput("\(result.alreadyStored ? "already stored" : "imported") \(manifest.name) \(manifest.digest): \(layers) layer\(layers == 1 ? "" : "s"), "
            + "\(ByteSize.format(UInt64(manifest.totalBytes))) unpacked; \(result.blobsAdded) blob\(result.blobsAdded == 1 ? "" : "s") added, \(result.blobsShared) already stored\n")
    }
}

/// `isolab image export NAME PATH`.
struct ImageExport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a stored OCI image as an OCI image layout (read by skopeo oci:PATH:NAME and umoci).",
        discussion: "The blobs are the stored ones, byte for byte: the manifest digest is the one imported. Into an existing layout, the image is added."
    )

    @OptionGroup var global: GlobalOptions
    @Argument(help: "Image name or digest prefix.") var reference: String
    @Argument(help: "The layout directory to write (new, empty, or an existing OCI layout).") var path: String

    func run() throws {
        _ = global.bootstrapLogging()
        CleanupRegistry.shared.installSignalHandlers()
        let store = ImageStore(paths: .fromEnvironment())
        let record: ImageStore.Record
        do {
            record = try store.resolve(reference)
        } catch let error as LabError where error.code == .notFound {
            throw LabError(.invalidInput, error.message)
        }
        let descriptor = try OCIExporter(images: store).export(record, to: path)
        CleanupRegistry.shared.parkIfInterrupted()
        FileOutput.standardOutput("exported \(record.names.first ?? record.manifest.name) \(descriptor.digest) to \(path)\n")
    }
}
