import Foundation
import LabCore
import LabModel

/// `isolab image export NAME PATH`: a stored image as an OCI image
/// layout (an imported one as it came, a built one in its OCI form) that skopeo (`oci:PATH:NAME`) and umoci (`--image PATH:NAME`)
/// read: the stored blobs byte for byte (so the manifest digest is the
/// same one imported), `index.json` naming it by `org.opencontainers.image.ref.name`
/// and `io.containerd.image.name`. Into an existing layout, the entry is
/// added and an older entry of the same name loses the name, as skopeo does.
public struct OCIExporter {
    public var images: ImageStore
    public var oci: OCIStore

    public init(images: ImageStore) {
        self.images = images
        oci = OCIStore(paths: images.paths)
    }

    public func export(_ record: ImageStore.Record, to path: String) throws -> OCI.Descriptor {
        // A built image: its OCI form (one layer of its tree, the agent left out), made once.
        let image = try OCIForm.of(record, paths: images.paths)
        let name = record.names.first ?? record.manifest.name
        let existing = FileSystem.exists(path)
        if existing {
            guard FileSystem.isDirectory(path), FileSystem.exists(path + "/oci-layout") || FileSystem.list(path).isEmpty else {
                throw LabError(.invalidInput, "\(path) exists and is not an OCI image layout; give a new path or an existing layout")
            }
        }
        // A new layout is made beside its path and renamed in whole.
        let root = existing ? path : path + ".tmp-\(getpid())"
        if !existing {
            try? FileSystem.removeTree(root)
            try FileSystem.makeDirectory(root, mode: 0o755)
        }
        let token = existing ? nil : CleanupRegistry.shared.register { try? FileSystem.removeTree(root) }
        defer { token.map { CleanupRegistry.shared.unregister($0) } }
        do {
            try FileSystem.createDirectory(root + "/blobs/sha256", mode: 0o755, parents: 0o755)
            for blob in [image.manifest, image.config] + image.layers.map(\.blob) {
                let target = root + "/blobs/sha256/" + blob.digest.hex
                if FileSystem.exists(target) { continue }
                try FileSystem.copyFile(oci.blobPath(blob.digest), to: target)
            }
            var index = OCI.Index(manifests: [])
            if existing, let bytes = try? FileSystem.readBytes(root + "/index.json") {
                index = try JSONDecoder().decode(OCI.Index.self, from: Data(bytes))
                for i in index.manifests.indices where index.manifests[i].refName == name {
                    index.manifests[i].annotations?[OCI.Descriptor.refName] = nil
                    index.manifests[i].annotations?[OCI.Descriptor.containerdName] = nil
                }
            }
            var entry = image.manifest
            entry.mediaType = OCI.MediaType.manifests.contains(entry.mediaType) ? entry.mediaType : OCI.MediaType.manifest
            entry.annotations = [OCI.Descriptor.refName: name, OCI.Descriptor.containerdName: name]
            entry.platform = nil
            index.manifests.append(entry)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            try FileSystem.writeAtomically(root + "/oci-layout", bytes: Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8))
            try FileSystem.writeAtomically(root + "/index.json", bytes: Array(try encoder.encode(index)))
            if !existing {
                guard rename(root, path) == 0 else { throw LabError.syscall("rename \(root) to \(path)") }
            }
        } catch {
            if !existing { try? FileSystem.removeTree(root) }
            throw error
        }
        return image.manifest
    }
}
