import Foundation
import LabCore
import LabModel
import LabWire

#if canImport(Glibc)
import Glibc
#endif

/// The OCI half of the image store, below `$ISOLAB_HOME/images/`:
/// - `blobs/<hex>`: every manifest, config and layer by its sha256, written
///   only by a rename of a file whose size and digest were checked, and
///   shared by every image that names it;
/// - `layers/<chain id hex>/`: each layer unpacked once, in the overlay's
///   format (whiteouts as 0/0 devices), named by ChainID;
/// - `l/<12 hex>`: short links to them, so that an overlay's options for
///   dozens of layers fit the mount's one page;
/// - `tmp/`: imports under way (`<kind>-<pid>-<n>`), removed by their owner or
///   by `isolab gc` once the pid is gone.
public struct OCIStore: Sendable {
    public let paths: LabPaths

    public init(paths: LabPaths) { self.paths = paths }

    public var blobs: String { paths.path(.imageBlobs) }
    public var layers: String { paths.path(.imageLayers) }
    public var links: String { paths.path(.imageLinks) }
    public var temp: String { paths.path(.imageTemp) }

    public func blobPath(_ digest: OCI.Digest) -> String { blobs + "/" + digest.hex }
    public func hasBlob(_ digest: OCI.Digest) -> Bool { FileSystem.exists(blobPath(digest)) }
    public func layerPath(_ chainID: OCI.Digest) -> String { layers + "/" + chainID.hex }
    public func linkPath(_ chainID: OCI.Digest) -> String { links + "/" + chainID.short }

    /// A fresh scratch directory of this process's in `tmp/`; removed by
    /// `isolab gc` if the process dies before it does.
    public func scratch(_ kind: String) throws -> String {
        try paths.ensure(.imageTemp)
        for _ in 0..<16 {
            let path = temp + "/\(kind)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            if mkdir(path, 0o700) == 0 { return path }
            guard errno == EEXIST else { throw LabError.syscall("mkdir \(path)") }
        }
        throw LabError(.failed, "cannot make a scratch directory in \(temp)")
    }

    /// Copies `source` into the store as `descriptor` says it is: the size
    /// first (before a byte is hashed, as the spec asks), then the digest,
    /// computed while copying. A mismatch stores nothing. Already stored:
    /// nothing to do.
    public func ingest(file source: String, _ descriptor: OCI.Descriptor, bound: Int64, what: String) throws {
        guard descriptor.size >= 0, descriptor.size <= bound else {
            throw LabError(.invalidInput, "\(what) declares \(descriptor.size) bytes, above the bound of \(bound) (\(ByteSize.format(UInt64(bound))))")
        }
        if hasBlob(descriptor.digest) { return }
        guard let actual = FileSystem.fileSize(source) else {
            throw LabError(.invalidInput, "\(what): blob \(descriptor.digest) is missing from the image (\(source))")
        }
        guard Int64(actual) == descriptor.size else {
            throw LabError(.invalidInput, "\(what): blob \(descriptor.digest) has \(actual) bytes, the descriptor says \(descriptor.size)")
        }
        try paths.ensure(.imageBlobs)
        let temporary = blobs + "/.in-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let output = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw LabError.syscall("create \(temporary)") }
        var kept = false
        defer { if !kept { unlink(temporary) } }
        do {
            defer { close(output) }
            let digest = try Self.digest(of: source, copyingTo: (output, temporary))
            guard digest == descriptor.digest else {
                throw LabError(.invalidInput, "\(what): blob content does not match its digest: expected \(descriptor.digest), got \(digest)")
            }
            guard fsync(output) == 0 else { throw LabError.syscall("fsync \(temporary)") }
        }
        guard rename(temporary, blobPath(descriptor.digest)) == 0 else { throw LabError.syscall("rename \(temporary)") }
        kept = true
    }

    /// The sha256 of the file at `source`, read once; each block also
    /// written to `copy` when given.
    static func digest(of source: String, copyingTo copy: (fd: Int32, path: String)? = nil) throws -> OCI.Digest {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw LabError.syscall("open \(source)") }
        defer { close(input) }
        var hash = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw LabError.syscall("read \(source)") }
            if n == 0 { break }
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            if let copy { try FileSystem.writeAll(copy.fd, Array(buffer[0..<n]), path: copy.path) }
        }
        return OCI.Digest(hex: hash.finalize().hex)
    }

    /// Stores bytes the lab made itself (a manifest it wrote); returns their descriptor.
    public func ingest(bytes: [UInt8], mediaType: String) throws -> OCI.Descriptor {
        let descriptor = OCI.Descriptor(mediaType: mediaType, digest: OCI.Digest(of: bytes), size: Int64(bytes.count))
        if !hasBlob(descriptor.digest) {
            try paths.ensure(.imageBlobs)
            try FileSystem.writeAtomically(blobPath(descriptor.digest), bytes: bytes)
        }
        return descriptor
    }

    /// A stored document (index, manifest, config), read whole.
    public func document(_ digest: OCI.Digest) throws -> [UInt8] {
        try FileSystem.readBytes(blobPath(digest))
    }

    /// Unpacks a stored layer blob once into `layers/<chain id>`: its DiffID
    /// is computed from the uncompressed stream and must be the config's.
    /// Returns the unpacked directory and what it skipped.
    public func unpack(layer descriptor: OCI.Descriptor, diffID: OCI.Digest, chainID: OCI.Digest, what: String) throws -> [String] {
        let target = layerPath(chainID)
        if FileSystem.isDirectory(target) {
            try link(chainID)
            return []
        }
        let blob = blobPath(descriptor.digest)
        let (computed, compression, _) = try LayerArchive.diffID(of: blob, what: what)
        if let declared = OCI.MediaType.compression(ofLayer: descriptor.mediaType), declared != compression {
            throw LabError(.invalidInput, "\(what) is declared \(declared.rawValue) (\(descriptor.mediaType)) but its stream is \(compression.rawValue)")
        }
        guard computed == diffID else {
            throw LabError(.invalidInput, "\(what): its uncompressed content \(computed) is not the config's diff_id \(diffID)")
        }
        try paths.ensure(.imageLayers)
        let scratch = layers + "/.unpack-\(getpid())-\(chainID.short)"
        try? FileSystem.removeTree(scratch)
        guard mkdir(scratch, 0o755) == 0 else { throw LabError.syscall("mkdir \(scratch)") }
        var done = false
        defer { if !done { try? FileSystem.removeTree(scratch) } }
        let result = try LayerArchive.unpack(blob, into: scratch, what: what)
        guard rename(scratch, target) == 0 || (errno == ENOTEMPTY || errno == EEXIST) else { throw LabError.syscall("rename \(scratch)") }
        done = FileSystem.isDirectory(target) && !FileSystem.exists(scratch)
        try link(chainID)
        return result.skipped
    }

    func link(_ chainID: OCI.Digest) throws {
        try paths.ensure(.imageLinks)
        let path = linkPath(chainID)
        if FileSystem.readLink(path) == "../layers/" + chainID.hex { return }
        unlink(path)
        guard symlink("../layers/" + chainID.hex, path) == 0 || errno == EEXIST else { throw LabError.syscall("symlink \(path)") }
    }

    /// What `isolab gc` removes: blobs and layers no stored image names,
    /// and scratch left by processes that are gone. `referenced` holds
    /// the blob and chain-id hex digits of every stored image.
    public func collectGarbage(blobs keptBlobs: Set<String>, layers keptLayers: Set<String>, dryRun: Bool) -> [String] {
        var removed: [String] = []
        func remove(_ path: String, _ label: String) {
            if dryRun || (try? FileSystem.removeTree(path)) != nil { removed.append(label) }
        }
        for name in FileSystem.list(blobs) {
            if OCI.Digest.isHex64(name) {
                if !keptBlobs.contains(name) { remove(blobs + "/" + name, "image blob sha256:\(name.prefix(12))") }
            } else if let pid = Self.owner(name), !ProcessState.isAlive(pid) {
                remove(blobs + "/" + name, "partial blob \(name)")
            }
        }
        for name in FileSystem.list(layers) {
            if OCI.Digest.isHex64(name) {
                if !keptLayers.contains(name) { remove(layers + "/" + name, "unpacked layer \(name.prefix(12))") }
            } else if let pid = Self.owner(name), !ProcessState.isAlive(pid) {
                remove(layers + "/" + name, "partial layer \(name)")
            }
        }
        for name in FileSystem.list(links) where !keptLayers.contains { $0.hasPrefix(name) } {
            if dryRun || unlink(links + "/" + name) == 0 { removed.append("layer link \(name)") }
        }
        for name in FileSystem.list(temp) {
            if let pid = Self.owner(name), !ProcessState.isAlive(pid) { remove(temp + "/" + name, "unfinished import \(name)") }
        }
        return removed
    }

    /// The pid in a scratch name `.kind-PID-...` or `kind-PID-...`.
    static func owner(_ name: String) -> pid_t? {
        let parts = name.split(separator: "-")
        guard parts.count >= 3, let pid = pid_t(parts[1]), pid > 0 else { return nil }
        return pid
    }
}

extension ImageStore {
    /// Blobs and unpacked layers no stored image names, and what interrupted
    /// imports left (`isolab gc`). Every OCI record is read before anything
    /// is removed; an unreadable record keeps everything.
    public func collectGarbage(dryRun: Bool) -> [String] {
        var blobs = Set<String>(), layers = Set<String>()
        for hex in FileSystem.list(root) where isDigestHex(hex) {
            guard let manifest = try? manifest(digestHex: hex) else { return [] }
            // A built image's OCI form (made by an export) keeps its blobs too.
            let form = (try? FileSystem.readBytes(directory(ofDigestHex: hex) + "/" + OCIForm.fileName))
                .flatMap { try? JSONDecoder().decode(ImageManifest.OCIImage.self, from: Data($0)) }
            guard let image = manifest.oci ?? form else { continue }
            blobs.formUnion([image.manifest.digest.hex, image.config.digest.hex] + image.layers.map(\.blob.digest.hex))
            layers.formUnion(image.layers.map(\.chainID.hex))
        }
        var removed: [String] = []
        for name in FileSystem.list(root) where name.hasPrefix(".import-") {
            if let pid = OCIStore.owner(String(name.dropFirst())), !ProcessState.isAlive(pid) {
                if dryRun || (try? FileSystem.removeTree(root + "/" + name)) != nil { removed.append("unfinished image record \(name)") }
            }
        }
        return removed + OCIStore(paths: paths).collectGarbage(blobs: blobs, layers: layers, dryRun: dryRun)
    }
}

extension ImageStore {
    /// chain id hex -> the names (or short digests) of the stored images with that layer.
    public static func layerUsers(_ records: [Record]) -> [String: Set<String>] {
        var users: [String: Set<String>] = [:]
        for record in records {
            for layer in record.manifest.oci?.layers ?? [] {
                users[layer.chainID.hex, default: []].insert(record.names.first ?? String(record.manifest.digestHex.prefix(12)))
            }
        }
        return users
    }
}
