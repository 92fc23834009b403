import CLibarchive
import LabCore
import LabModel
import LabWire

#if canImport(Glibc)
import Glibc
#endif

/// A tree written as one OCI layer, reproducibly: entries in path order,
/// owners and modes as on disk, times zero, hard links as links, a PAX tar
/// (libarchive) gzip-compressed with no name or time in its header (zlib). The
/// same tree gives the same bytes, so the same digest, on any machine.
enum LayerWriter {
    struct Written {
        var blob: [UInt8]
        var diffID: OCI.Digest
    }

    /// `root`'s tree without the paths in `excluding` (absolute inside the
    /// tree); the tar is written in `scratch` first (its DiffID is its sha256).
    static func layer(of root: String, excluding: Set<String>, scratch: String) throws -> Written {
        let a = try LayerArchive.api()
        let temporary = scratch + "/layer.tar"
        let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LabError.syscall("create \(temporary)") }
        defer { close(fd); unlink(temporary) }
        guard let writer = a.archive_write_new() else { throw LabError(.failed, "libarchive: out of memory") }
        defer { _ = a.archive_write_free(writer) }
        _ = a.archive_write_set_format_pax_restricted(writer)
        guard a.archive_write_open_fd(writer, fd) == LAB_ARCHIVE_OK else {
            throw LabError(.failed, "libarchive: \(LayerArchive.errorText(a, writer))")
        }
        var links: [String: String] = [:]  // "dev:ino" -> the first path of a hard-linked file
        var stack = [""]
        var paths: [String] = []
        while let directory = stack.popLast() {
            for name in FileSystem.list(root + directory).sorted().reversed() {
                let path = directory + "/" + name
                guard !excluding.contains(path) else { continue }
                paths.append(path)
                var st = stat()
                if lstat(root + path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR { stack.append(path) }
            }
        }
        for path in paths.sorted() {
            var st = stat()
            guard lstat(root + path, &st) == 0 else { throw LabError.syscall("lstat \(root + path)") }
            guard let entry = a.archive_entry_new() else { throw LabError(.failed, "libarchive: out of memory") }
            defer { a.archive_entry_free(entry) }
            a.archive_entry_set_pathname(entry, String(path.dropFirst()) + (st.st_mode & S_IFMT == S_IFDIR ? "/" : ""))
            a.archive_entry_set_perm(entry, st.st_mode & 0o7777)
            a.archive_entry_set_uid(entry, Int64(st.st_uid))
            a.archive_entry_set_gid(entry, Int64(st.st_gid))
            a.archive_entry_set_mtime(entry, 0, 0)
            var content: String?
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                a.archive_entry_set_filetype(entry, UInt32(LAB_AE_IFDIR))
            case S_IFLNK:
                a.archive_entry_set_filetype(entry, UInt32(LAB_AE_IFLNK))
                a.archive_entry_set_symlink(entry, FileSystem.readLink(root + path) ?? "")
            case S_IFREG:
                a.archive_entry_set_filetype(entry, UInt32(LAB_AE_IFREG))
                let key = "\(st.st_dev):\(st.st_ino)"
                if st.st_nlink > 1, let first = links[key] {
                    a.archive_entry_set_hardlink(entry, String(first.dropFirst()))
                    a.archive_entry_set_size(entry, 0)
                } else {
                    if st.st_nlink > 1 { links[key] = path }
                    a.archive_entry_set_size(entry, Int64(st.st_size))
                    content = root + path
                }
            default:
                continue  // no device, fifo or socket in a layer the lab writes
            }
            guard a.archive_write_header(writer, entry) == LAB_ARCHIVE_OK else {
                throw LabError(.failed, "libarchive: \(path): \(LayerArchive.errorText(a, writer))")
            }
            if let content {
                let input = open(content, O_RDONLY | O_CLOEXEC)
                guard input >= 0 else { throw LabError.syscall("open \(content)") }
                defer { close(input) }
                var buffer = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                    if n < 0 && errno == EINTR { continue }
                    guard n >= 0 else { throw LabError.syscall("read \(content)") }
                    if n == 0 { break }
                    guard buffer.withUnsafeBytes({ a.archive_write_data(writer, $0.baseAddress, n) }) == n else {
                        throw LabError(.failed, "libarchive: \(path): \(LayerArchive.errorText(a, writer))")
                    }
                }
            }
        }
        guard a.archive_write_close(writer) == LAB_ARCHIVE_OK else { throw LabError(.failed, "libarchive: close the layer") }
        let tar = try FileSystem.readBytes(temporary)
        return Written(blob: try Gzip.compress(tar), diffID: OCI.Digest(of: tar))
    }
}
