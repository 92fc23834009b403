import CLabHost
import LabModel

#if canImport(Glibc)
import Glibc
#endif

/// The user libvirt runs QEMU as (`user =` in /etc/libvirt/qemu.conf,
/// `libvirt-qemu` on Debian): the one other user that must reach the lab's
/// guest files (kernel, initramfs, console socket, disk).
public enum QEMUUser {
    public struct Identity: Sendable, Equatable {
        public var name: String
        public var uid: uid_t
        public var gid: gid_t
    }

    public static func lookup(conf: String = "/etc/libvirt/qemu.conf") -> Identity? {
        var name = "libvirt-qemu"
        // Only the `user = "..."` line matters in this 36 KB file of comments:
        // scanned as bytes (splitting it into trimmed Strings showed in every start).
        let bytes = Array((FileSystem.readTextIfPresent(conf) ?? "").utf8)
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            var i = start
            while i < end && (bytes[i] == 0x20 || bytes[i] == 0x09) { i += 1 }
            if end - i > 4, bytes[i] == 0x75, bytes[i + 1] == 0x73, bytes[i + 2] == 0x65, bytes[i + 3] == 0x72 {
                let line = String(decoding: bytes[i..<end], as: UTF8.self)
                // `user = ...`, not `user_something = ...`.
                if let eq = line.firstIndex(of: "="), line[line.index(line.startIndex, offsetBy: 4)..<eq].trimmingWhitespace().isEmpty {
                    let value = line[line.index(after: eq)...].trimmingWhitespace().filter { $0 != "\"" }
                    if !value.isEmpty, !value.hasPrefix("+") { name = value }
                }
            }
            start = end + 1
        }
        // The reentrant calls: lookups may run on several threads at once.
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        // The group of the user's own name where it has one (Debian's
        // `libvirt-qemu`, whose only member is QEMU's user), rather than its
        // primary group (`kvm`, which other users may be in). libvirt gives
        // QEMU the user's supplementary groups, so either lets it pass.
        var gid = entry.pw_gid
        var group = Glibc.group()
        var foundGroup: UnsafeMutablePointer<Glibc.group>?
        var groupBuffer = [CChar](repeating: 0, count: 16384)
        if getgrnam_r(name, &group, &groupBuffer, groupBuffer.count, &foundGroup) == 0, foundGroup != nil {
            var members: [String] = []
            var member = group.gr_mem
            while let pointer = member?.pointee { members.append(String(cString: pointer)); member = member?.advanced(by: 1) }
            if members.contains(name) || group.gr_gid == gid { gid = group.gr_gid }
        }
        return Identity(name: name, uid: entry.pw_uid, gid: gid)
    }
}

/// One change a state-writing command made to a directory of the lab's
/// tree: its mode and owner before and after, and why.
public struct StateRepair: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var before: String
    public var after: String
    public var why: String

    public var description: String { "repaired \(path): \(before) -> \(after) (\(why))" }
}

extension LabPaths {
    /// Creates the state directory, or repairs it and the tree below it, and
    /// returns what it changed. The state directory is 0710, group QEMU's
    /// (0700 where the host has no QEMU user): nobody else enters, QEMU's
    /// user passes through to its guests' files. Below it, each directory
    /// QEMU must pass (`LabDirectory.qemuPasses`) that an older lab made
    /// without that passage gets its stated mode and group. A state
    /// directory owned by another user is refused, not taken over; nothing
    /// is ever removed. A home the lab has not used is set up without a word
    /// (it is new, not repaired). Costs a few stats when all is in place.
    @discardableResult
    public func secureStateDirectory() throws -> [StateRepair] {
        // A missing home's parents: searchable, so that QEMU's user can pass
        // them (a home inside a private directory can never work for it).
        try FileSystem.createDirectory(stateDirectory, mode: 0o700, parents: 0o755)
        var st = stat()
        guard stat(stateDirectory, &st) == 0 else { throw LabError.syscall("stat \(stateDirectory)") }
        let root = geteuid() == 0
        if root && st.st_uid != 0 {
            throw LabError(.failed, "\(stateDirectory) is owned by uid \(st.st_uid), not root: the lab keeps its state, images and console sockets in a directory "
                           + "only root and QEMU's user may enter; chown root \(stateDirectory), or set ISOLAB_HOME to another directory")
        }
        var repairs: [StateRepair] = []
        var looked = false
        var qemu: QEMUUser.Identity?
        func qemuUser() -> QEMUUser.Identity? {
            if !looked { qemu = root ? QEMUUser.lookup() : nil; looked = true }
            return qemu
        }
        func describe(_ st: stat) -> String {
            "mode 0\(String(st.st_mode & 0o7777, radix: 8)) \(Self.userName(st.st_uid)):\(Self.groupName(st.st_gid))"
        }
        // A home the lab has not used yet (none of its directories but the
        // kernels setup-host puts there) is being set up, not repaired: nothing to say.
        let fresh = !LabDirectory.allCases.contains { $0.parent == nil && $0 != .kernels && FileSystem.isDirectory(path($0)) }
        func set(_ path: String, mode: mode_t, group: gid_t?, why: String, was st: stat) throws {
            if let group, st.st_gid != group {
                guard chown(path, 0, group) == 0 else { throw LabError.syscall("chown \(path)") }
            }
            guard chmod(path, mode) == 0 else { throw LabError.syscall("chmod \(path)") }
            var now = stat()
            _ = stat(path, &now)
            if !(fresh && path == stateDirectory) {
                repairs.append(StateRepair(path: path, before: describe(st), after: describe(now), why: why))
            }
        }

        // The gate. Closed to others with a group that may pass: taken as
        // QEMU's (or one the owner chose) without looking QEMU's user up.
        let gateSet = st.st_mode & 0o007 == 0 && st.st_mode & 0o010 != 0 && st.st_gid != 0
        if !gateSet {
            if let qemu = qemuUser() {
                if st.st_mode & 0o7777 != 0o710 || st.st_gid != qemu.gid {
                    try set(stateDirectory, mode: 0o710, group: qemu.gid, why: "only root and QEMU's user \(qemu.name), which passes to its guests' files", was: st)
                }
            } else if st.st_mode & 0o077 != 0 {
                try set(stateDirectory, mode: 0o700, group: nil, why: "no other user may enter it", was: st)
            }
        }

        // Below the gate: each directory on QEMU's way that it could not pass.
        for directory in LabDirectory.allCases where directory.qemuPasses {
            let path = path(directory)
            var inner = stat()
            guard stat(path, &inner) == 0, (inner.st_mode & S_IFMT) == S_IFDIR else { continue }
            let fine = inner.st_mode & 0o001 != 0 || (directory.qemuGroup && inner.st_mode & 0o010 != 0 && inner.st_gid != 0)
            guard !fine, let qemu = qemuUser(), !QEMUUser.passes(inner, qemu) else { continue }
            try set(path, mode: directory.mode, group: directory.qemuGroup ? qemu.gid : nil,
                    why: "QEMU's user \(qemu.name) must pass through it", was: inner)
        }
        return repairs
    }

    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid) else { return String(uid) }
        return String(cString: entry.pointee.pw_name)
    }

    static func groupName(_ gid: gid_t) -> String {
        guard let entry = getgrgid(gid) else { return String(gid) }
        return String(cString: entry.pointee.gr_name)
    }
}

extension QEMUUser {
    /// Whether QEMU's user may search a directory with this stat, by its
    /// mode bits (owner, then group, then others, as the kernel decides).
    static func passes(_ st: stat, _ qemu: Identity) -> Bool {
        if st.st_uid == qemu.uid { return st.st_mode & 0o100 != 0 }
        if st.st_gid == qemu.gid { return st.st_mode & 0o010 != 0 }
        return st.st_mode & 0o001 != 0
    }
}

extension LabPaths {
    /// Lets one more user pass through the state directory (execute only,
    /// no listing) by a POSIX ACL entry: the root of a `--userns` container
    /// (uid 100000 on the host) must reach its image and mount point, as
    /// rootless Podman's storage lets its subordinate range through. Done
    /// once; other entries and the mode's other bits are kept.
    public func grantPassage(toUser uid: uid_t) throws {
        var st = stat()
        guard stat(stateDirectory, &st) == 0 else { throw LabError.syscall("stat \(stateDirectory)") }
        var existing = [UInt8](repeating: 0, count: 4096)
        let size = lab_getxattr(stateDirectory, PosixACL.name, &existing, existing.count)
        var entries = size >= 4 ? PosixACL.decode(Array(existing[0..<Int(size)])) : PosixACL.fromMode(st.st_mode)
        if entries.contains(where: { $0.tag == PosixACL.user && $0.id == uid && $0.permissions & 1 == 1 }) { return }
        entries.removeAll { $0.tag == PosixACL.user && $0.id == uid }
        entries.append(PosixACL.Entry(tag: PosixACL.user, permissions: 1, id: uid))
        // The mask bounds every named entry and the group: at least x, at most what they have.
        var groupClass: UInt16 = 0
        for entry in entries where [PosixACL.user, PosixACL.group, PosixACL.groupObject].contains(entry.tag) {
            groupClass |= entry.permissions
        }
        entries.removeAll { $0.tag == PosixACL.mask }
        entries.append(PosixACL.Entry(tag: PosixACL.mask, permissions: groupClass, id: PosixACL.undefinedID))
        let bytes = PosixACL.encode(entries)
        guard lab_setxattr(stateDirectory, PosixACL.name, bytes, bytes.count) == 0 else {
            throw LabError(.failed, "\(stateDirectory) must let uid \(uid), root of a --userns container, pass: "
                           + "setting an ACL failed (\(Errno.describe(errno))); chmod o+x \(stateDirectory), or drop --userns")
        }
    }
}

/// The kernel's binary form of a POSIX ACL (`system.posix_acl_access`,
/// linux/posix_acl_xattr.h): a version, then (tag, permissions, id)
/// entries, little-endian, sorted by tag and id.
enum PosixACL {
    static let name = "system.posix_acl_access"
    static let userObject: UInt16 = 0x01, user: UInt16 = 0x02, groupObject: UInt16 = 0x04, group: UInt16 = 0x08
    static let mask: UInt16 = 0x10, other: UInt16 = 0x20
    static let undefinedID = UInt32.max

    struct Entry: Equatable {
        var tag: UInt16
        var permissions: UInt16
        var id: UInt32
    }

    /// The three entries a mode alone stands for.
    static func fromMode(_ mode: mode_t) -> [Entry] {
        [Entry(tag: userObject, permissions: UInt16((mode >> 6) & 7), id: undefinedID),
         Entry(tag: groupObject, permissions: UInt16((mode >> 3) & 7), id: undefinedID),
         Entry(tag: other, permissions: UInt16(mode & 7), id: undefinedID)]
    }

    static func decode(_ bytes: [UInt8]) -> [Entry] {
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { UInt32(u16(at)) | UInt32(u16(at + 2)) << 16 }
        var entries: [Entry] = []
        var at = 4
        while at + 8 <= bytes.count {
            entries.append(Entry(tag: u16(at), permissions: u16(at + 2), id: u32(at + 4)))
            at += 8
        }
        return entries
    }

    static func encode(_ entries: [Entry]) -> [UInt8] {
        var bytes: [UInt8] = [2, 0, 0, 0]
        for entry in entries.sorted(by: { ($0.tag, $0.id) < ($1.tag, $1.id) }) {
            bytes += [UInt8(entry.tag & 0xFF), UInt8(entry.tag >> 8), UInt8(entry.permissions & 0xFF), UInt8(entry.permissions >> 8)]
            bytes += (0..<4).map { UInt8((entry.id >> (8 * $0)) & 0xFF) }
        }
        return bytes
    }
}
