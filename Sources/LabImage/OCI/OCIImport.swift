import Foundation
import LabCore
import LabModel
import LabWire

/// `isolab image import PATH[:REF]`: an OCI image layout (a directory or
/// its tar) or a `docker save` archive into the store. Every blob is
/// checked against its digest on the way in; the image appears only once
/// all of them are stored and every layer is unpacked, by the rename of its
/// record. An interruption leaves verified blobs (shared, and removed by
/// `isolab gc` while no image names them) and scratch that `gc` removes.
public struct OCIImporter {
    public var images: ImageStore
    public var oci: OCIStore

    public init(images: ImageStore) {
        self.images = images
        oci = OCIStore(paths: images.paths)
    }

    public struct Result: Sendable {
        public var record: ImageStore.Record
        /// Entries a layer held that the lab does not make (device nodes).
        public var skipped: [String]
        public var blobsAdded = 0
        public var blobsShared = 0
        public var alreadyStored = false
    }

    /// `PATH[:REF]` split at the first colon, as skopeo's `oci:PATH:REF`.
    public static func split(_ argument: String) -> (path: String, ref: String?) {
        guard let colon = argument.firstIndex(of: ":") else { return (argument, nil) }
        let ref = String(argument[argument.index(after: colon)...])
        return (String(argument[..<colon]), ref.isEmpty ? nil : ref)
    }

    public func importImage(_ argument: String, name: String?) throws -> Result {
        let (path, ref) = Self.split(argument)
        if let name, !ImageDefinition.isValidName(name) {
            throw LabError(.invalidInput, "--name '\(name)' is not a valid image name (1-64 of a-z 0-9 . _ -, starting with a letter or digit)")
        }
        var info = stat()
        guard stat(path, &info) == 0 else { throw LabError(.invalidInput, "\(path): no such file or directory (an OCI layout, its tar, or a docker save archive)") }
        let scratch = try oci.scratch("import")
        let token = CleanupRegistry.shared.register { try? FileSystem.removeTree(scratch) }
        defer {
            try? FileSystem.removeTree(scratch)
            CleanupRegistry.shared.unregister(token)
        }
        var layout = path
        if info.st_mode & S_IFMT != S_IFDIR {
            layout = scratch + "/layout"
            try FileSystem.makeDirectory(layout, mode: 0o700)
            _ = try LayerArchive.unpack(path, into: layout, what: path, layer: false)
        }
        let source = Source(root: layout, label: path)
        // Bad input leaves the store as it was: what this import added goes.
        let before = (blobs: Set(FileSystem.list(oci.blobs)), layers: Set(FileSystem.list(oci.layers)))
        do {
            let chosen: Chosen
            if FileSystem.exists(layout + "/index.json") {
                chosen = try chooseFromLayout(source, ref: ref)
            } else if FileSystem.exists(layout + "/manifest.json") {
                chosen = try chooseFromDockerArchive(source, ref: ref)
            } else {
                throw LabError(.invalidInput, "\(path) is neither an OCI image layout (no index.json) nor a docker save archive (no manifest.json)")
            }
            let imageName = name ?? chosen.ref
            guard let imageName, ImageDefinition.isValidName(imageName) else {
                throw LabError(.invalidInput, chosen.ref.map { "the image's ref '\($0)' is not a valid image name; give one with --name" }
                               ?? "\(path) names no ref for its image; give a name with --name")
            }
            // A built-in name would be the built-in image again at the next use.
            guard ImageDefinition.builtin(imageName) == nil, !BuiltinOCI.names.contains(imageName) else {
                throw LabError(.invalidInput, "'\(imageName)' is the name of a built-in image; give the import another name with --name")
            }
            return try store(chosen, source: source, name: imageName)
        } catch {
            for name in Set(FileSystem.list(oci.blobs)).subtracting(before.blobs) where OCI.Digest.isHex64(name) {
                unlink(oci.blobs + "/" + name)
            }
            for name in Set(FileSystem.list(oci.layers)).subtracting(before.layers) where OCI.Digest.isHex64(name) {
                try? FileSystem.removeTree(oci.layers + "/" + name)
                unlink(oci.links + "/" + name.prefix(12))
            }
            throw error
        }
    }

    /// An image whose blobs are all in the store already, each verified on
    /// its way in (a pull put them there): its layers unpacked, its record
    /// written and `name` pointed at it.
    public func storeFetched(manifest: OCI.Descriptor, label: String, name: String) throws -> Result {
        try store(Chosen(manifest: manifest, ref: name), source: Source(root: "/nonexistent", label: label), name: name)
    }

    /// Where blobs come from: a layout's `blobs/sha256/`, or an archive's files.
    struct Source {
        var root: String
        var label: String

        func blob(_ digest: OCI.Digest) -> String { root + "/blobs/sha256/" + digest.hex }

        /// A relative file of the archive (docker save names them).
        func file(_ relative: String) throws -> String {
            let clean = try LayerArchive.relativeName(relative, what: label)
            guard !clean.isEmpty else { throw LabError(.invalidInput, "\(label): empty file name in manifest.json") }
            return root + "/" + clean
        }
    }

    /// An image found in the source: its manifest (already stored) and
    /// where its other blobs are.
    struct Chosen {
        var manifest: OCI.Descriptor
        var ref: String?
        /// digest -> file in the source.
        var files: [OCI.Digest: String] = [:]
    }

    func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], what: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch {
            throw LabError(.invalidInput, "\(what) is not a valid \(T.self): \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            (context.codingPath.map(\.stringValue).joined(separator: ".") + " " + context.debugDescription).trimmingWhitespace()
        case let error as LabError: error.message
        default: "\(error)"
        }
    }

    func readDocument(_ path: String, what: String) throws -> [UInt8] {
        guard let size = FileSystem.fileSize(path) else { throw LabError(.invalidInput, "\(what) is missing (\(path))") }
        guard Int64(size) <= OCI.Bounds.document else {
            throw LabError(.invalidInput, "\(what) has \(size) bytes, above the bound of \(OCI.Bounds.document) for a document")
        }
        return try FileSystem.readBytes(path)
    }

    func chooseFromLayout(_ source: Source, ref: String?) throws -> Chosen {
        let index = try decode(OCI.Index.self, try readDocument(source.root + "/index.json", what: "\(source.label): index.json"),
                               what: "\(source.label): index.json")
        let known = OCI.MediaType.indexes.union(OCI.MediaType.manifests)
        let entries = index.manifests.filter { known.contains($0.mediaType) }
        let names = entries.compactMap(\.refName)
        var entry: OCI.Descriptor
        if let ref {
            guard let found = entries.first(where: { $0.refName == ref || $0.annotations?[OCI.Descriptor.containerdName] == ref }) else {
                throw LabError(.invalidInput, "\(source.label) has no image named '\(ref)'" + (names.isEmpty ? " (its images have no names)" : "; it has: \(names.joined(separator: ", "))"))
            }
            entry = found
        } else {
            guard entries.count == 1 else {
                throw LabError(.invalidInput, entries.isEmpty ? "\(source.label) holds no image (index.json lists no manifest)"
                               : "\(source.label) holds \(entries.count) images; name one as PATH:REF (refs: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
            }
            entry = entries[0]
        }
        let refName = ref ?? entry.refName
        // An index (a multi-platform image): this host's platform, at most two levels deep.
        for _ in 0..<2 where OCI.MediaType.indexes.contains(entry.mediaType) {
            try oci.ingest(file: source.blob(entry.digest), entry, bound: OCI.Bounds.document, what: "\(source.label): image index")
            let nested = try decode(OCI.Index.self, try oci.document(entry.digest), what: "\(source.label): image index \(entry.digest.short)")
            entry = try OCI.hostManifest(in: nested, what: source.label)
        }
        guard OCI.MediaType.manifests.contains(entry.mediaType) else {
            throw LabError(.invalidInput, "\(source.label): unknown media type \(entry.mediaType) where an image manifest was expected")
        }
        try oci.ingest(file: source.blob(entry.digest), entry, bound: OCI.Bounds.document, what: "\(source.label): manifest")
        return Chosen(manifest: entry, ref: refName)
    }

    /// `docker save` (before Docker 25, which writes an OCI layout too):
    /// manifest.json lists each image's config and layer tars; the lab
    /// writes the OCI manifest for them, as skopeo does when it converts.
    func chooseFromDockerArchive(_ source: Source, ref: String?) throws -> Chosen {
        struct Entry: Decodable {
            var Config: String
            var RepoTags: [String]?
            var Layers: [String]
        }
        let entries = try decode([Entry].self, try readDocument(source.root + "/manifest.json", what: "\(source.label): manifest.json"),
                                 what: "\(source.label): manifest.json (docker save)")
        let tags = entries.flatMap { $0.RepoTags ?? [] }
        let entry: Entry
        if let ref {
            guard let found = entries.first(where: { ($0.RepoTags ?? []).contains(ref) || ($0.RepoTags ?? []).contains(ref + ":latest") }) else {
                throw LabError(.invalidInput, "\(source.label) has no image tagged '\(ref)'; it has: \(tags.isEmpty ? "none" : tags.joined(separator: ", "))")
            }
            entry = found
        } else {
            guard entries.count == 1 else {
                throw LabError(.invalidInput, "\(source.label) holds \(entries.count) images; name one as PATH:TAG (tags: \(tags.joined(separator: ", ")))")
            }
            entry = entries[0]
        }
        var chosen = Chosen(manifest: OCI.Descriptor(mediaType: "", digest: OCI.Digest(hex: ""), size: 0), ref: nil)
        func describe(_ relative: String, mediaType: String) throws -> OCI.Descriptor {
            let file = try source.file(relative)
            let digest = try OCIStore.digest(of: file)
            chosen.files[digest] = file
            return OCI.Descriptor(mediaType: mediaType, digest: digest, size: Int64(FileSystem.fileSize(file) ?? 0))
        }
        let config = try describe(entry.Config, mediaType: OCI.MediaType.config)
        var layers: [OCI.Descriptor] = []
        for layer in entry.Layers {
            let file = try source.file(layer)
            let gzip = (try? Self.prefix(of: file, 2)) == [0x1F, 0x8B]
            layers.append(try describe(layer, mediaType: gzip ? OCI.MediaType.layerGzip : OCI.MediaType.layerTar))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(OCI.Manifest(config: config, layers: layers)))
        chosen.manifest = try oci.ingest(bytes: bytes, mediaType: OCI.MediaType.manifest)
        let tag = ref ?? entry.RepoTags?.first
        // busybox:latest -> busybox: a lab name has no colon.
        chosen.ref = tag.map { $0.split(separator: "/").last.map(String.init) ?? $0 }.map { $0.hasSuffix(":latest") ? String($0.dropLast(7)) : $0 }
        return chosen
    }

    static func prefix(of path: String, _ count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.syscall("open \(path)") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        return Array(bytes.prefix(max(0, n)))
    }

    /// The manifest is stored; now its config and layers, each layer
    /// unpacked, and the record.
    func store(_ chosen: Chosen, source: Source, name: String) throws -> Result {
        let label = source.label
        let manifest = try decode(OCI.Manifest.self, try oci.document(chosen.manifest.digest), what: "\(label): manifest \(chosen.manifest.digest.short)")
        if let type = manifest.mediaType, !OCI.MediaType.manifests.contains(type) {
            throw LabError(.invalidInput, "\(label): unknown manifest media type \(type)")
        }
        var added = 0, shared = 0
        func ingest(_ descriptor: OCI.Descriptor, bound: Int64, what: String) throws {
            if oci.hasBlob(descriptor.digest) { shared += 1; return }
            try oci.ingest(file: chosen.files[descriptor.digest] ?? source.blob(descriptor.digest), descriptor, bound: bound, what: what)
            added += 1
        }
        guard OCI.MediaType.configs.contains(manifest.config.mediaType) else {
            throw LabError(.invalidInput, "\(label): unknown config media type \(manifest.config.mediaType) (an artifact, not an image?)")
        }
        try ingest(manifest.config, bound: OCI.Bounds.document, what: "\(label): config")
        let config = try decode(OCI.ImageConfig.self, try oci.document(manifest.config.digest), what: "\(label): config")
        let host = OCI.Platform.host
        guard config.os == host.os, config.architecture == host.architecture else {
            throw LabError(.invalidInput, "\(label) is an image for \(config.os)/\(config.architecture); this host runs \(host.description)")
        }
        guard config.rootfs.type == "layers" else { throw LabError(.invalidInput, "\(label): config rootfs.type is \(config.rootfs.type), not layers") }
        guard config.rootfs.diff_ids.count == manifest.layers.count else {
            throw LabError(.invalidInput, "\(label): the manifest has \(manifest.layers.count) layers but the config \(config.rootfs.diff_ids.count) diff_ids")
        }
        for (i, layer) in manifest.layers.enumerated() {
            guard OCI.MediaType.compression(ofLayer: layer.mediaType) != nil else {
                throw LabError(.invalidInput, "\(label): layer \(i + 1) has an unknown media type \(layer.mediaType)")
            }
            try ingest(layer, bound: OCI.Bounds.layer, what: "\(label): layer \(i + 1)")
        }
        let chain = OCI.chainIDs(config.rootfs.diff_ids)
        var skipped: [String] = []
        var layers: [ImageManifest.OCIImage.Layer] = []
        var disk = 0
        let directory = images.directory(ofDigestHex: chosen.manifest.digest.hex)
        // Stored already, its layers in place: only the name to point (no walk of the layers for their sizes).
        if FileSystem.isDirectory(directory), chain.allSatisfy({ FileSystem.isDirectory(oci.layerPath($0)) }) {
            for id in chain { try oci.link(id) }
            try images.tag(name, digestHex: chosen.manifest.digest.hex)
            return Result(record: try images.resolve(name), skipped: [], blobsAdded: added, blobsShared: shared, alreadyStored: true)
        }
        for (i, layer) in manifest.layers.enumerated() {
            skipped += try oci.unpack(layer: layer, diffID: config.rootfs.diff_ids[i], chainID: chain[i], what: "\(label): layer \(i + 1)")
            let (bytes, allocated) = DebianImage.treeSize(oci.layerPath(chain[i]))
            layers.append(.init(blob: layer, diffID: config.rootfs.diff_ids[i], chainID: chain[i], unpackedBytes: bytes))
            disk += allocated
        }
        let settings = config.config
        var environment: [String: String] = [:]
        for entry in settings?.Env ?? [] {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            environment[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        let total = layers.reduce(0) { $0 + $1.unpackedBytes }
        let record = ImageManifest(
            schemaVersion: ImageManifest.currentSchemaVersion, name: name, digest: chosen.manifest.digest.description,
            created: ISO8601DateFormatter().string(from: Date()), base: "oci", agentProtocolVersion: nil,
            config: .init(env: environment, workdir: (settings?.WorkingDir).flatMap { $0.isEmpty ? nil : $0 } ?? "/",
                          entrypoint: (settings?.Entrypoint ?? []) + (settings?.Cmd ?? []), user: (settings?.User).flatMap { $0.isEmpty ? nil : $0 }),
            files: [], totalBytes: total,
            footprint: ImageFootprint(rootfsBytes: total, rootfsDiskBytes: disk, initramfsBytes: 0, initramfsFile: ""),
            oci: .init(manifest: chosen.manifest, config: manifest.config, layers: layers, platform: host, source: source.label))
        let existed = FileSystem.isDirectory(directory)
        if !existed {
            let staging = images.root + "/.import-\(getpid())-\(chosen.manifest.digest.short)"
            try? FileSystem.removeTree(staging)
            try FileSystem.makeDirectory(staging, mode: 0o755)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            do {
                try FileSystem.writeAtomically(staging + "/manifest.json", bytes: Array(try encoder.encode(record)))
                guard rename(staging, directory) == 0 || errno == ENOTEMPTY || errno == EEXIST else { throw LabError.syscall("rename \(staging)") }
            } catch {
                try? FileSystem.removeTree(staging)
                throw error
            }
            try? FileSystem.removeTree(staging)
        }
        try images.tag(name, digestHex: chosen.manifest.digest.hex)
        return Result(record: try images.resolve(name), skipped: skipped, blobsAdded: added, blobsShared: shared, alreadyStored: existed)
    }
}
