#if canImport(Glibc)
import Glibc
import LabModel
#elseif canImport(Darwin)
import Darwin
#endif

/// Small file helpers on plain system calls, so that every failure names the
/// step and errno the lab's way.
public enum FileSystem {
    /// The whole file as text; throws naming the path.
    public static func readText(_ path: String) throws -> String {
        String(decoding: try readBytes(path), as: UTF8.self)
    }

    /// The whole file; throws naming the path.
    public static func readBytes(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.syscall("open \(path)") }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LabError.syscall("read \(path)")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    /// The file's text, or nil when it cannot be read.
    public static func readTextIfPresent(_ path: String) -> String? {
        try? readText(path)
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// The target of a symbolic link, or nil.
    public static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Makes the directory `path` with exactly `mode` (the umask does not
    /// narrow it); its parent must exist. Returns false when `path` was
    /// already a directory, whose mode is then left as it is.
    @discardableResult
    public static func makeDirectory(_ path: String, mode: mode_t) throws -> Bool {
        if mkdir(path, mode) != 0 {
            if errno == EEXIST && isDirectory(path) { return false }
            throw LabError.syscall("create directory \(path)")
        }
        // mkdir applies the umask: a mode stated on purpose is set as stated.
        guard chmod(path, mode) == 0 else { throw LabError.syscall("chmod \(path)") }
        return true
    }

    /// `mkdir -p` with both modes stated by the caller: the leaf gets `mode`,
    /// every missing parent `parents`. No parent takes the leaf's mode by
    /// accident (a private leaf made its parents private too, and QEMU's
    /// user could no longer pass through them to its guests' directories).
    /// Directories that exist are left as they are.
    public static func createDirectory(_ path: String, mode: mode_t, parents: mode_t) throws {
        // The path itself first: usually its parent exists (or it does), and
        // one mkdir is the whole cost. A container start makes several.
        if mkdir(path, mode) == 0 {
            guard chmod(path, mode) == 0 else { throw LabError.syscall("chmod \(path)") }
            return
        }
        if errno == EEXIST && isDirectory(path) { return }
        guard errno == ENOENT else { throw LabError.syscall("create directory \(path)") }
        var current = path.hasPrefix("/") ? "" : "."
        let parts = path.split(separator: "/")
        for (index, part) in parts.enumerated() {
            current += "/" + part
            try makeDirectory(current, mode: index == parts.count - 1 ? mode : parents)
        }
    }

    /// Writes `bytes` to a temporary file beside `path`, fsyncs (unless not
    /// `durable`) and renames it over `path`, so that a reader never sees
    /// half a file.
    public static func writeAtomically(_ path: String, bytes: [UInt8], mode: mode_t = 0o644, durable: Bool = true) throws {
        // Unique per call: two threads of one process may write the same path.
        let temporary = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw LabError.syscall("create \(temporary)") }
        var ok = false
        defer {
            if !ok { unlink(temporary) }
        }
        do {
            defer { close(fd) }
            try writeAll(fd, bytes, path: temporary)
            guard !durable || fsync(fd) == 0 else { throw LabError.syscall("fsync \(temporary)") }
        }
        guard rename(temporary, path) == 0 else { throw LabError.syscall("rename \(temporary) to \(path)") }
        ok = true
    }

    public static func writeAtomically(_ path: String, text: String, mode: mode_t = 0o644) throws {
        try writeAtomically(path, bytes: Array(text.utf8), mode: mode)
    }

    /// Writes every byte, retrying short writes and EINTR.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw LabError.syscall("write \(path)")
            }
            offset += n
        }
    }

    /// Writes a value to an existing kernel file (procfs, cgroupfs) in one write.
    public static func writeControl(_ path: String, _ value: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LabError.syscall("open \(path)") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw LabError.syscall("write '\(value)' to \(path)") }
    }

    /// `rm -rf` without following symlinks: a link is removed, not its target.
    public static func removeTree(_ path: String) throws {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw LabError.syscall("stat \(path)")
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in list(path) {
                try removeTree(path + "/" + name)
            }
            guard rmdir(path) == 0 || errno == ENOENT else { throw LabError.syscall("remove directory \(path)") }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw LabError.syscall("remove \(path)") }
        }
    }

    /// The size of a file (following links), nil when it cannot be stat'ed.
    public static func fileSize(_ path: String) -> Int? {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : nil
    }

    /// Names of the directories in a directory (not following symlinks), by
    /// the type readdir reports: a cgroup holds dozens of control files,
    /// and a stat of each is most of the time its removal takes.
    public static func subdirectories(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let type = entry.pointee.d_type
            guard type == UInt8(DT_DIR) || type == UInt8(DT_UNKNOWN) else { continue }
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard name != "." && name != ".." else { continue }
            if type == UInt8(DT_UNKNOWN) {
                var st = stat()
                guard lstat(path + "/" + name, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            }
            names.append(name)
        }
        return names.sorted()
    }

    /// Names in a directory, without `.` and `..`; empty when it cannot be read.
    public static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}

extension FileSystem {
    /// Bytes `path` takes on disk (allocated blocks), everything below a
    /// directory included, symlinks not followed, a file with several links
    /// counted once; 0 when it does not exist.
    public static func allocatedBytes(_ path: String) -> Int {
        var seen = Set<UInt64>()
        func walk(_ path: String) -> Int {
            var st = stat()
            guard lstat(path, &st) == 0 else { return 0 }
            if st.st_nlink > 1 && (st.st_mode & S_IFMT) != S_IFDIR {
                guard seen.insert(UInt64(st.st_ino) ^ (UInt64(st.st_dev) << 40)).inserted else { return 0 }
            }
            var total = Int(st.st_blocks) * 512
            if (st.st_mode & S_IFMT) == S_IFDIR {
                for name in list(path) { total += walk(path + "/" + name) }
            }
            return total
        }
        return walk(path)
    }
}

extension FileSystem {
    /// The type of the file system `path` is on, from /proc/self/mountinfo
    /// (the longest mount point that contains it): `ext4`, `tmpfs`, ...
    public static func fileSystemType(_ path: String) -> String? {
        guard let text = readTextIfPresent("/proc/self/mountinfo") else { return nil }
        var best: (Int, String)?
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard let dash = fields.firstIndex(of: "-"), dash >= 5, fields.count > dash + 1 else { continue }
            let point = String(fields[4])
            guard path == point || path.hasPrefix(point == "/" ? "/" : point + "/") else { continue }
            if best == nil || point.count > best!.0 { best = (point.count, String(fields[dash + 1])) }
        }
        return best?.1
    }
}

extension FileSystem {
    /// Copies a regular file (sendfile: the kernel copies, no buffer in the
    /// lab) to `destination` by a rename of a temporary beside it; `mode`
    /// for the new file.
    public static func copyFile(_ source: String, to destination: String, mode: mode_t = 0o644) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw LabError.syscall("open \(source)") }
        defer { close(input) }
        let temporary = destination + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let output = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard output >= 0 else { throw LabError.syscall("create \(temporary)") }
        var ok = false
        defer { if !ok { unlink(temporary) } }
        do {
            defer { close(output) }
            while true {
                let n = sendfile(output, input, nil, 1 << 30)
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw LabError.syscall("copy \(source) to \(temporary)") }
                if n == 0 { break }
            }
            guard fsync(output) == 0 else { throw LabError.syscall("fsync \(temporary)") }
        }
        guard rename(temporary, destination) == 0 else { throw LabError.syscall("rename \(temporary) to \(destination)") }
        ok = true
    }
}

extension FileSystem {
    /// realpath(3): `path` with every symlink resolved; nil if it does not exist.
    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
