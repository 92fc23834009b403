import Foundation
import LabCore
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// A built image (a flat tree: busybox, a definition, debian) in OCI form,
/// for `image export`: its tree as one reproducible layer without the lab's
/// agent, a config with its environment and working directory, and a
/// manifest, all in the blob store. Made once per image, remembered in
/// `images/<digest>/oci.json` (and its blobs kept by `gc` while it is).
public enum OCIForm {
    public static let fileName = "oci.json"

    /// The lab's agent in a built tree, and `/init` when it is the agent's link: never part of an export.
    static func agentPaths(_ rootfs: String) -> Set<String> {
        var paths: Set<String> = ["/sbin/isolab-agent", "/usr/local/sbin/isolab-agent"]
        if let target = FileSystem.readLink(rootfs + "/init"), target.hasSuffix("isolab-agent") { paths.insert("/init") }
        return paths
    }

    public static func of(_ record: ImageStore.Record, paths: LabPaths) throws -> ImageManifest.OCIImage {
        if let oci = record.manifest.oci { return oci }
        let file = record.directory + "/" + fileName
        let store = OCIStore(paths: paths)
        if let bytes = try? FileSystem.readBytes(file), let form = try? JSONDecoder().decode(ImageManifest.OCIImage.self, from: Data(bytes)),
           ([form.manifest, form.config] + form.layers.map(\.blob)).allSatisfy({ store.hasBlob($0.digest) }) {
            return form
        }
        guard FileSystem.isDirectory(record.rootfs) else {
            throw LabError(.notFound, "image \(record.manifest.name) has no tree at \(record.rootfs); build it again")
        }
        let scratch = try store.scratch("form")
        let token = CleanupRegistry.shared.register { try? FileSystem.removeTree(scratch) }
        defer {
            try? FileSystem.removeTree(scratch)
            CleanupRegistry.shared.unregister(token)
        }
        let excluded = agentPaths(record.rootfs)
        let layer = try LayerWriter.layer(of: record.rootfs, excluding: excluded, scratch: scratch)
        // The tree's bytes without the agent's (a regular file; its links count nothing).
        let agentBytes = excluded.reduce(0) { total, path in
            var st = stat()
            return total + (lstat(record.rootfs + path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG ? Int(st.st_size) : 0)
        }
        let blob = try store.ingest(bytes: layer.blob, mediaType: OCI.MediaType.layerGzip)
        let config = record.manifest.config
        // The built image's entrypoint is the agent, which the export leaves out: a shell, if it has one.
        let entrypoint = config.entrypoint.first.map { $0.hasSuffix("isolab-agent") } == true ? [] : config.entrypoint
        let cmd = entrypoint.isEmpty && FileSystem.exists(record.rootfs + "/bin/sh") ? ["/bin/sh"] : entrypoint
        var settings: [String: Any] = ["Env": config.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }, "WorkingDir": config.workdir]
        if !cmd.isEmpty { settings["Cmd"] = cmd }
        let host = OCI.Platform.host
        let configBytes = Array(try JSONSerialization.data(withJSONObject: [
            "architecture": host.architecture, "os": host.os, "config": settings,
            "rootfs": ["type": "layers", "diff_ids": [layer.diffID.description]],
            "history": [["created_by": "isolab image build (\(record.manifest.base)), the agent left out", "created": "1970-01-01T00:00:00Z"]],
        ] as [String: Any], options: [.sortedKeys, .withoutEscapingSlashes]))
        let configDescriptor = try store.ingest(bytes: configBytes, mediaType: OCI.MediaType.config)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifest = try store.ingest(bytes: Array(try encoder.encode(OCI.Manifest(config: configDescriptor, layers: [blob]))),
                                        mediaType: OCI.MediaType.manifest)
        let form = ImageManifest.OCIImage(manifest: manifest, config: configDescriptor,
                                          layers: [.init(blob: blob, diffID: layer.diffID, chainID: layer.diffID, unpackedBytes: record.manifest.footprint.rootfsBytes - agentBytes)],
                                          platform: host, source: "built by the lab: \(record.manifest.name) \(record.manifest.digest)")
        try FileSystem.writeAtomically(file, bytes: Array(try encoder.encode(form)))
        return form
    }
}
