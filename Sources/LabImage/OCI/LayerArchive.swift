import CLibarchive
import LabCore
import LabModel
import LabWire

#if canImport(Glibc)
import Glibc
#endif

/// Reading tar archives (plain, gzip or zstd) with libarchive: an OCI
/// layer's DiffID, a layer unpacked in the overlay's format, and a layout's
/// tar opened into a directory.
public enum LayerArchive {
    static func api() throws -> lab_archive_api {
        var reason = [CChar](repeating: 0, count: 256)
        guard let table = lab_archive_api(&reason, reason.count) else {
            throw LabError(.failed, String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return table.pointee
    }

    /// A reader over `path` with the compressions OCI names; the caller frees it.
    static func open(_ a: lab_archive_api, _ path: String, raw: Bool, what: String) throws -> (OpaquePointer, Int32) {
        guard let reader = a.archive_read_new() else { throw LabError(.failed, "libarchive: out of memory") }
        _ = a.archive_read_support_filter_gzip(reader)
        _ = a.archive_read_support_filter_zstd(reader)
        _ = raw ? a.archive_read_support_format_raw(reader) : a.archive_read_support_format_tar(reader)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            _ = a.archive_read_free(reader)
            throw LabError.syscall("open \(path)")
        }
        guard a.archive_read_open_fd(reader, fd, 1 << 16) == LAB_ARCHIVE_OK else {
            let message = errorText(a, reader)
            _ = a.archive_read_free(reader)
            close(fd)
            throw LabError(.invalidInput, "\(what) is truncated or corrupt: \(message)")
        }
        return (reader, fd)
    }

    static func errorText(_ a: lab_archive_api, _ reader: OpaquePointer) -> String {
        a.archive_error_string(reader).map { String(cString: $0) } ?? "unreadable archive"
    }

    /// The DiffID: the sha256 of the uncompressed tar, and which compression
    /// the stream had. A truncated or corrupt stream is bad input.
    public static func diffID(of path: String, what: String) throws -> (OCI.Digest, OCI.Compression, Int64) {
        let a = try api()
        let (reader, fd) = try open(a, path, raw: true, what: what)
        defer { _ = a.archive_read_free(reader); close(fd) }
        var entry: OpaquePointer?
        guard a.archive_read_next_header(reader, &entry) == LAB_ARCHIVE_OK else {
            throw LabError(.invalidInput, "\(what) is not a tar stream libarchive can read: \(errorText(a, reader))")
        }
        var hash = SHA256()
        var total: Int64 = 0
        var buffer: UnsafeRawPointer?
        var size = 0
        var offset: Int64 = 0
        while true {
            let status = a.archive_read_data_block(reader, &buffer, &size, &offset)
            if status == LAB_ARCHIVE_EOF { break }
            guard status >= LAB_ARCHIVE_WARN else {
                throw LabError(.invalidInput, "\(what) is truncated or corrupt: \(errorText(a, reader))")
            }
            if let buffer, size > 0 {
                hash.update(UnsafeRawBufferPointer(start: buffer, count: size))
                total += Int64(size)
            }
        }
        let compression: OCI.Compression = switch a.archive_filter_code(reader, 0) {
        case Int32(LAB_ARCHIVE_FILTER_GZIP): .gzip
        case Int32(LAB_ARCHIVE_FILTER_ZSTD): .zstd
        default: .uncompressed
        }
        return (OCI.Digest(hex: hash.finalize().hex), compression, total)
    }

    /// What unpacking skipped (device nodes: a layer does not make devices).
    public struct Unpacked: Sendable {
        public var skipped: [String] = []
        public var entries = 0
    }

    /// Unpacks the tar at `path` into the empty directory `destination` in
    /// the overlay's format: a whiteout `.wh.NAME` becomes a 0/0 character
    /// device NAME, an opaque marker `.wh..wh..opq` the `trusted.overlay.opaque`
    /// attribute of its directory (image-spec layer.md). Names with `..`, or
    /// absolute ones, and hard links out of the layer are refused; nothing is
    /// written through a symlink (libarchive's secure flags). Symlinks are
    /// stored as they are: they resolve inside the root at run time.
    /// `allowWhiteouts` false (a layout's tar, not a layer) refuses them.
    public static func unpack(_ path: String, into destination: String, what: String, layer: Bool = true) throws -> Unpacked {
        let a = try api()
        guard let base = FileSystem.realPath(destination) else { throw LabError.syscall("resolve \(destination)") }
        let (reader, fd) = try open(a, path, raw: false, what: what)
        defer { _ = a.archive_read_free(reader); close(fd) }
        guard let writer = a.archive_write_disk_new() else { throw LabError(.failed, "libarchive: out of memory") }
        defer { _ = a.archive_write_free(writer) }
        _ = a.archive_write_disk_set_options(writer, Int32(LAB_ARCHIVE_EXTRACT_FLAGS))
        var result = Unpacked()
        var entry: OpaquePointer?
        while true {
            let status = a.archive_read_next_header(reader, &entry)
            if status == LAB_ARCHIVE_EOF { break }
            guard status >= LAB_ARCHIVE_WARN, let entry else {
                throw LabError(.invalidInput, "\(what) is truncated or corrupt: \(errorText(a, reader))")
            }
            result.entries += 1
            let raw = a.archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            let name = try relativeName(raw, what: what)
            if name.isEmpty { continue }  // "./": the root itself
            let type = mode_t(a.archive_entry_filetype(entry)) & Glibc.S_IFMT
            if [Glibc.S_IFCHR, Glibc.S_IFBLK, Glibc.S_IFIFO, Glibc.S_IFSOCK].contains(type) {
                result.skipped.append(name)
                continue
            }
            let components = name.split(separator: "/")
            let leaf = String(components.last!)
            let parent = components.dropLast().joined(separator: "/")
            if leaf.hasPrefix(".wh.") {
                guard layer else { throw LabError(.invalidInput, "\(what): \(name) is a whiteout outside a layer") }
                let directory = base + (parent.isEmpty ? "" : "/" + parent)
                try makeParents(base: base, parent)
                if leaf == ".wh..wh..opq" {
                    guard setxattr(directory, "trusted.overlay.opaque", "y", 1, 0) == 0 else {
                        throw LabError.syscall("mark \(directory) opaque (trusted.overlay.opaque)")
                    }
                } else {
                    let hidden = String(leaf.dropFirst(4))
                    guard !hidden.isEmpty, hidden != ".", hidden != ".." else { throw LabError(.invalidInput, "\(what): bad whiteout \(name)") }
                    guard mknod(directory + "/" + hidden, Glibc.S_IFCHR, 0) == 0 else {
                        throw LabError.syscall("make the whiteout of \(parent.isEmpty ? "" : parent + "/")\(hidden)")
                    }
                }
                continue
            }
            if let link = a.archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                let target = try relativeName(link, what: what)
                guard !target.isEmpty else { throw LabError(.invalidInput, "\(what): hard link \(name) points at the layer's root") }
                a.archive_entry_set_hardlink(entry, base + "/" + target)
            }
            a.archive_entry_set_pathname(entry, base + "/" + name)
            guard a.archive_write_header(writer, entry) >= LAB_ARCHIVE_WARN else {
                throw LabError(.invalidInput, "\(what): cannot unpack \(name): \(errorText(a, writer))")
            }
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: Int64 = 0
            while true {
                let read = a.archive_read_data_block(reader, &buffer, &size, &offset)
                if read == LAB_ARCHIVE_EOF { break }
                guard read >= LAB_ARCHIVE_WARN else {
                    throw LabError(.invalidInput, "\(what) is truncated or corrupt at \(name): \(errorText(a, reader))")
                }
                guard a.archive_write_data_block(writer, buffer, size, offset) >= LAB_ARCHIVE_WARN else {
                    throw LabError(.failed, "\(what): cannot write \(name): \(errorText(a, writer))")
                }
            }
            guard a.archive_write_finish_entry(writer) >= LAB_ARCHIVE_WARN else {
                throw LabError(.failed, "\(what): cannot finish \(name): \(errorText(a, writer))")
            }
        }
        return result
    }

    /// `raw` without a leading `./`, refused when it climbs (`..`) or is
    /// absolute: the spec's layers hold relative names only.
    static func relativeName(_ raw: String, what: String) throws -> String {
        guard !raw.hasPrefix("/") else { throw LabError(.invalidInput, "\(what): entry \(raw) is an absolute path; a layer holds relative names") }
        let parts = raw.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !parts.contains("..") else { throw LabError(.invalidInput, "\(what): entry \(raw) climbs out of the layer (..)") }
        return parts.joined(separator: "/")
    }

    /// A whiteout's directory may come before any entry for it.
    static func makeParents(base: String, _ parent: String) throws {
        var path = base
        for component in parent.split(separator: "/") {
            path += "/" + component
            var info = stat()
            if lstat(path, &info) == 0 {
                guard info.st_mode & Glibc.S_IFMT == Glibc.S_IFDIR else {
                    throw LabError(.invalidInput, "whiteout below \(path), which is not a directory")
                }
                continue
            }
            guard mkdir(path, 0o755) == 0 else { throw LabError.syscall("mkdir \(path)") }
        }
    }
}
