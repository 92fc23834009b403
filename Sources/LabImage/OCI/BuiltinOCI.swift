import Foundation
import LabCore
import LabModel

/// OCI images the lab makes itself, so that a scenario about images runs
/// from nothing: no download, no tool the user must have.
/// - `busybox-oci`: the built-in busybox image in OCI form (one layer, the agent left out);
/// - `debian-oci`: the debian image the same way (its systemd and packages; the agent left out);
/// - `layered`: busybox-oci's layer, then a layer adding `/srv/data/{a,b,c}` and
///   `/srv/old/x`, then one hiding `/srv/data/a` (a whiteout) and making
///   `/srv/old` opaque with `/srv/old/y` in it: the stack `docker build` makes.
/// Each goes through the importer's own path (blobs checked, layers unpacked
/// once, shared with every image that has them).
public enum BuiltinOCI {
    public static let names = ["busybox-oci", "debian-oci", "layered"]

    public static func build(_ name: String, builder: ImageBuilder) throws -> ImageStore.Record? {
        guard names.contains(name) else { return nil }
        let base = try builder.build(name == "debian-oci" ? .builtinDebian : .builtinBusybox).record
        let paths = builder.store.paths
        let form = try OCIForm.of(base, paths: paths)
        let importer = OCIImporter(images: builder.store)
        let store = importer.oci
        var layers = form.layers.map(\.blob)
        var diffIDs = form.layers.map(\.diffID)
        let configBytes = try store.document(form.config.digest)
        var config = try JSONSerialization.jsonObject(with: Data(configBytes)) as? [String: Any] ?? [:]
        if name == "layered" {
            let scratch = try store.scratch("layered")
            defer { try? FileSystem.removeTree(scratch) }
            for (index, files) in [
                ["srv/data/a": "a\n", "srv/data/b": "b\n", "srv/data/c": "c\n", "srv/old/x": "x\n"],
                ["srv/data/.wh.a": "", "srv/old/.wh..wh..opq": "", "srv/old/y": "y\n"],
            ].enumerated() {
                let tree = scratch + "/tree\(index)"
                for (path, content) in files {
                    let file = tree + "/" + path
                    try FileSystem.createDirectory(String(file[..<file.lastIndex(of: "/")!]), mode: 0o755, parents: 0o755)
                    try FileSystem.writeAtomically(file, text: content)
                }
                let layer = try LayerWriter.layer(of: tree, excluding: [], scratch: scratch)
                layers.append(try store.ingest(bytes: layer.blob, mediaType: OCI.MediaType.layerGzip))
                diffIDs.append(layer.diffID)
            }
            config["rootfs"] = ["type": "layers", "diff_ids": diffIDs.map(\.description)]
            config["history"] = ((config["history"] as? [Any]) ?? []) + [
                ["created_by": "isolab: add /srv/data/{a,b,c} and /srv/old/x", "created": "1970-01-01T00:00:00Z"],
                ["created_by": "isolab: remove /srv/data/a (whiteout), replace /srv/old (opaque) with /srv/old/y", "created": "1970-01-01T00:00:00Z"],
            ]
        }
        let configDescriptor = name == "layered"
            ? try store.ingest(bytes: Array(try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .withoutEscapingSlashes])),
                               mediaType: OCI.MediaType.config)
            : form.config
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let manifest = try store.ingest(bytes: Array(try encoder.encode(OCI.Manifest(config: configDescriptor, layers: layers))),
                                        mediaType: OCI.MediaType.manifest)
        let source = OCIImporter.Source(root: "/nonexistent", label: "built-in \(name) (from \(base.manifest.name) \(base.manifest.digestHex.prefix(12)))")
        return try importer.store(.init(manifest: manifest, ref: name), source: source, name: name).record
    }
}
