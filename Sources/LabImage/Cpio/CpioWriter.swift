import LabCore
import LabModel

/// Writes a cpio archive in the kernel's "newc" format (magic 070701), the
/// format an initramfs must have. Every entry is owned by root, has a fixed
/// mtime and a sequential inode number, so the same entries in the same order
/// give the same bytes. Directories, regular files and symlinks only: the
/// kernel's built-in initramfs already provides `/dev/console`.
public struct CpioWriter: Sendable {
    /// The archive so far (call `finish()` before using it as a whole).
    public private(set) var bytes: [UInt8] = []
    private var nextInode: UInt32 = 1
    private var finished = false
    /// The mtime every entry gets.
    public let mtime: UInt32

    public init(mtime: UInt32 = 0) {
        self.mtime = mtime
    }

    static let typeDirectory: UInt32 = 0o040000
    static let typeRegular: UInt32 = 0o100000
    static let typeSymlink: UInt32 = 0o120000

    /// A directory; `path` is relative to the archive root (no leading `/`).
    public mutating func appendDirectory(_ path: String, mode: UInt32 = 0o755) throws {
        try append(path: path, mode: Self.typeDirectory | (mode & 0o7777), links: 2, data: [])
    }

    /// A regular file with its whole content.
    public mutating func appendFile(_ path: String, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0, contents: [UInt8]) throws {
        try append(path: path, mode: Self.typeRegular | (mode & 0o7777), links: 1, data: contents, uid: uid, gid: gid)
    }

    /// A symbolic link; its target is stored as the entry's data.
    public mutating func appendSymlink(_ path: String, target: String) throws {
        guard !target.isEmpty else { throw LabError(.invalidInput, "symlink \(path) has an empty target") }
        try append(path: path, mode: Self.typeSymlink | 0o777, links: 1, data: Array(target.utf8))
    }

    /// Appends the trailer; the archive is complete after this.
    public mutating func finish() {
        guard !finished else { return }
        writeHeader(name: "TRAILER!!!", inode: 0, mode: 0, links: 1, size: 0)
        finished = true
    }

    private mutating func append(path: String, mode: UInt32, links: UInt32, data: [UInt8], uid: UInt32 = 0, gid: UInt32 = 0) throws {
        precondition(!finished, "CpioWriter: entry appended after finish()")
        let name = try Self.normalize(path)
        guard data.count <= Int(UInt32.max) else {
            throw LabError(.invalidInput, "\(path) is \(data.count) bytes; newc stores sizes below 4 GiB")
        }
        writeHeader(name: name, inode: nextInode, mode: mode, links: links, size: UInt32(data.count), uid: uid, gid: gid)
        nextInode += 1
        bytes.append(contentsOf: data)
        pad()
    }

    /// Strips a leading `/` or `./`, and refuses names that would land
    /// outside the archive root or that the kernel cannot store.
    static func normalize(_ path: String) throws -> String {
        var name = Substring(path)
        while name.hasPrefix("/") { name = name.dropFirst() }
        while name.hasPrefix("./") { name = name.dropFirst(2) }
        let parts = name.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, !parts.contains("..") else {
            throw LabError(.invalidInput, "archive path '\(path)' is empty or leaves the archive root")
        }
        guard !path.utf8.contains(0) else { throw LabError(.invalidInput, "archive path '\(path)' contains a NUL byte") }
        return parts.joined(separator: "/")
    }

    private mutating func writeHeader(name: String, inode: UInt32, mode: UInt32, links: UInt32, size: UInt32, uid: UInt32 = 0, gid: UInt32 = 0) {
        let nameBytes = Array(name.utf8) + [0]
        bytes.append(contentsOf: Array("070701".utf8))
        // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
        // rdevmajor, rdevminor, namesize, check
        let fields: [UInt32] = [
            inode, mode, uid, gid, links, inode == 0 ? 0 : mtime, size, 0, 0, 0, 0, UInt32(nameBytes.count), 0,
        ]
        for field in fields { appendHex(field) }
        bytes.append(contentsOf: nameBytes)
        pad()
    }

    private mutating func appendHex(_ value: UInt32) {
        let digits = Array("0123456789ABCDEF".utf8)
        for shift in stride(from: 28, through: 0, by: -4) {
            bytes.append(digits[Int((value >> UInt32(shift)) & 0xF)])
        }
    }

    /// newc aligns every header and every file's data to 4 bytes.
    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}
