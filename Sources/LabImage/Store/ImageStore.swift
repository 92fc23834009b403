import Foundation
import LabCore
import LabModel

/// The lab's local images: `$ISOLAB_HOME/images/<digest hex>/` holding
/// `rootfs/`, `initramfs.cpio[.gz]` and `manifest.json`, name tags in
/// `images/tags/<name>` (a file holding the digest), and the build cache's
/// input fingerprints in `images/inputs/`. An image directory appears only
/// by a rename of a complete build, so a directory named by a digest is
/// always whole.
public struct ImageStore: Sendable {
    public var root: String
    public var paths: LabPaths
    /// Decode each manifest's file list (`image inspect` prints it); a
    /// store that only starts instances turns it off: records then carry
    /// `files: []`.
    public var readsFileLists = true

    public init(paths: LabPaths) {
        root = paths.path(.images)
        self.paths = paths
    }

    /// A stored image: its manifest and the names that point at it.
    public struct Record: Sendable {
        public var manifest: ImageManifest
        public var names: [String]
        public var directory: String

        public var rootfs: String { directory + "/rootfs" }
        /// An OCI image's unpacked layers as an overlay's lower directories:
        /// the top layer first (through their short links); nil for an image
        /// with a flat `rootfs/`.
        public var lowerDirectories: [String]? {
            manifest.oci.map { oci in
                let links = directory.dropLast(manifest.digestHex.count) + "l/"
                return oci.layers.reversed().map { links + $0.chainID.short }
            }
        }
        public var initramfs: String { directory + "/" + manifest.footprint.initramfsFile }
        /// A whole-OS image's kernel and disk (nil for a one-process image).
        public var kernel: String? { manifest.os.map { directory + "/" + $0.kernel } }
        public var disk: String? { manifest.os.map { directory + "/" + $0.disk } }
    }

    var tags: String { paths.path(.imageTags) }
    var inputs: String { paths.path(.imageInputs) }

    public func directory(ofDigestHex hex: String) -> String { root + "/" + hex }

    func isDigestHex(_ name: String) -> Bool {
        name.utf8.count == 64 && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    /// Every name tag: name -> digest hex.
    public func tagTable() -> [String: String] {
        var table: [String: String] = [:]
        for file in FileSystem.list(tags) {
            let name = Self.name(ofTagFile: file)
            guard ImageDefinition.isValidImageName(name) else { continue }
            if let hex = FileSystem.readTextIfPresent(tags + "/" + file)?.trimmingWhitespace(), isDigestHex(hex) {
                table[name] = hex
            }
        }
        return table
    }

    public func manifest(digestHex hex: String) throws -> ImageManifest {
        let path = directory(ofDigestHex: hex) + "/manifest.json"
        do {
            let decoder = JSONDecoder()
            if !readsFileLists { decoder.userInfo[ImageManifest.skipsFileList] = true }
            return try decoder.decode(ImageManifest.self, from: Data(try FileSystem.readBytes(path)))
        } catch let error as LabError {
            throw error
        } catch {
            throw LabError(.failed, "\(path) is not a valid manifest: \(error)")
        }
    }

    /// Every stored image, newest first.
    public func list() -> [Record] {
        let table = tagTable()
        var records: [Record] = []
        for hex in FileSystem.list(root) where isDigestHex(hex) {
            guard let manifest = try? manifest(digestHex: hex) else { continue }
            records.append(Record(manifest: manifest, names: table.filter { $0.value == hex }.map(\.key).sorted(),
                                  directory: directory(ofDigestHex: hex)))
        }
        return records.sorted { $0.manifest.created > $1.manifest.created }
    }

    /// A reference is a name, or a digest prefix of at least 8 hex digits
    /// (`sha256:` may precede it).
    public func resolve(_ reference: String) throws -> Record {
        let table = tagTable()
        // A registry reference as it was pulled: `host/app` is `host/app:latest`.
        let canonical = (try? ImageReference.ifReference(reference))?.description
        if let hex = table[reference] ?? canonical.flatMap({ table[$0] }) {
            guard FileSystem.isDirectory(directory(ofDigestHex: hex)) else {
                throw LabError(.notFound, "image '\(reference)' is tagged but its content is gone; rebuild it with isolab image build")
            }
            return Record(manifest: try manifest(digestHex: hex), names: table.filter { $0.value == hex }.map(\.key).sorted(),
                          directory: directory(ofDigestHex: hex))
        }
        let prefix = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
        let isHex = prefix.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
        guard isHex, prefix.count >= 8 else {
            let known = table.keys.sorted()
            throw LabError(.notFound, "no image named '\(reference)'" + (known.isEmpty ? "; build one with isolab image build" : "; known: \(known.joined(separator: ", "))") + " (a digest prefix needs at least 8 hex digits)")
        }
        let matches = FileSystem.list(root).filter { isDigestHex($0) && $0.hasPrefix(prefix) }
        guard matches.count == 1 else {
            throw LabError(matches.isEmpty ? .notFound : .invalidInput,
                           matches.isEmpty ? "no image with digest \(prefix)..." : "digest prefix \(prefix) is ambiguous: \(matches.count) images; give more digits")
        }
        let hex = matches[0]
        return Record(manifest: try manifest(digestHex: hex), names: table.filter { $0.value == hex }.map(\.key).sorted(),
                      directory: directory(ofDigestHex: hex))
    }

    /// A tag's file: the name, with a reference's `/` written `%2F` (a
    /// reference holds no `%`).
    static func tagFile(_ name: String) -> String { name.replacingOccurrences(of: "/", with: "%2F") }
    static func name(ofTagFile file: String) -> String { file.replacingOccurrences(of: "%2F", with: "/") }

    /// Points `name` at `digestHex` (atomically).
    public func tag(_ name: String, digestHex hex: String) throws {
        guard ImageDefinition.isValidImageName(name) else { throw LabError(.invalidInput, "'\(name)' is neither an image name nor a registry reference") }
        let file = tags + "/" + Self.tagFile(name)
        // Unchanged: nothing to write (a cached build tags on every use).
        if FileSystem.readTextIfPresent(file)?.trimmingWhitespace() == hex { return }
        try paths.ensure(.imageTags)
        try FileSystem.writeAtomically(file, text: hex + "\n")
    }

    /// Removes a name (nothing else).
    public func untag(_ name: String) throws {
        guard unlink(tags + "/" + Self.tagFile(name)) == 0 || errno == ENOENT else { throw LabError.syscall("remove tag \(name)") }
    }

    /// Removes an image and every name pointing at it: the directory is
    /// renamed away first, so no reader ever sees half of it.
    public func remove(_ reference: String) throws -> Record {
        let record = try resolve(reference)
        let hex = record.manifest.digestHex
        for name in record.names { try untag(name) }
        for input in FileSystem.list(inputs) where FileSystem.readTextIfPresent(inputs + "/" + input)?.trimmingWhitespace() == hex {
            unlink(inputs + "/" + input)
        }
        let trash = root + "/.remove-\(hex)-\(getpid())"
        guard rename(record.directory, trash) == 0 else { throw LabError.syscall("rename \(record.directory)") }
        try FileSystem.removeTree(trash)
        return record
    }
}
