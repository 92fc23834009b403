import Foundation
import Glibc
import LabModel
import Testing
import CLabHost

@testable import LabCore

@Suite("QEMU's user from qemu.conf")
struct QEMUUserTests {
    func lookup(_ text: String) throws -> QEMUUser.Identity? {
        let path = NSTemporaryDirectory() + "isolab-qemu-\(UUID().uuidString).conf"
        try FileSystem.writeAtomically(path, text: text)
        defer { unlink(path) }
        return QEMUUser.lookup(conf: path)
    }

    @Test func theUserLineNamesTheUserAndCommentsDoNot() throws {
        let nobody = try #require(getpwnam("nobody")).pointee.pw_uid
        #expect(try lookup("# user = \"root\"\n  user = \"nobody\"\nuser_ns = 1\n")?.uid == nobody)
        #expect(try lookup("#user = \"nobody\"\n")?.name == (getpwnam("libvirt-qemu") == nil ? nil : "libvirt-qemu"))
        #expect(try lookup("user_x = \"nobody\"\n")?.name != "nobody")
        // A numeric user (`+0`) is not a name: the default stands.
        #expect(try lookup("user = \"+0\"\n")?.name != "+0")
    }

    @Test func aStateDirectoryOpenToOthersIsClosedAndAPrivateOneOpenedToQEMUAlone() throws {
        var template = Array((NSTemporaryDirectory() + "isolab-home-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileSystem.removeTree(made) }
        chmod(made, 0o755)
        // Unused by the lab, it is set up without a word: new, not repaired.
        #expect(try LabPaths(stateDirectory: made).secureStateDirectory().isEmpty)
        var st = stat()
        stat(made, &st)
        #expect(st.st_mode & 0o007 == 0, "others can still enter: \(String(st.st_mode & 0o777, radix: 8))")
        if getuid() == 0, let qemu = QEMUUser.lookup() {
            #expect(st.st_mode & 0o777 == 0o710 && st.st_gid == qemu.gid)
        }
        // A private home in use (mkdtemp's 0700) is no good for QEMU: opened to its group alone, and said.
        try FileSystem.makeDirectory(made + "/run", mode: 0o755)
        chmod(made, 0o700)
        let repairs = try LabPaths(stateDirectory: made).secureStateDirectory()
        stat(made, &st)
        if getuid() == 0, let qemu = QEMUUser.lookup() {
            #expect(st.st_mode & 0o777 == 0o710 && st.st_gid == qemu.gid)
            #expect(repairs.map(\.path) == [made] && repairs.first?.before.hasPrefix("mode 0700") == true)
        } else {
            #expect(st.st_mode & 0o777 == 0o700 && repairs.isEmpty)
        }
        // Twice is once: nothing more to repair.
        #expect(try LabPaths(stateDirectory: made).secureStateDirectory().isEmpty)
    }

    /// What an older lab left: its directory helper made `run/vms` with the
    /// leaf's 0700. Repaired to its stated mode and group; the directories
    /// QEMU never enters are left alone.
    @Test(.enabled(if: getuid() == 0 && QEMUUser.lookup() != nil, "needs root and QEMU's user (libvirt)"))
    func aTreeAnOlderLabLeftIsRepairedAndSaysWhat() throws {
        var template = Array((NSTemporaryDirectory() + "isolab-home-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileSystem.removeTree(made) }
        let qemu = try #require(QEMUUser.lookup())
        for (path, mode) in [("run", 0o700), ("run/vms", 0o700), ("run/volumes", 0o700), ("images", 0o750)] as [(String, mode_t)] {
            try FileSystem.makeDirectory(made + "/" + path, mode: mode)
        }
        let repairs = try LabPaths(stateDirectory: made).secureStateDirectory()
        #expect(repairs.map(\.path) == [made, made + "/run", made + "/run/vms", made + "/images"], "\(repairs)")
        func mode(_ path: String) -> (mode_t, gid_t) {
            var st = stat()
            stat(made + path, &st)
            return (st.st_mode & 0o7777, st.st_gid)
        }
        #expect(mode("/run/vms") == (0o710, qemu.gid) && mode("/run") == (0o755, 0) && mode("/images") == (0o755, 0))
        #expect(mode("/run/volumes") == (0o700, 0))
        #expect(repairs[2].description == "repaired \(made)/run/vms: mode 0700 root:root -> mode 0710 root:\(qemu.name) (QEMU's user \(qemu.name) must pass through it)")
        #expect(try LabPaths(stateDirectory: made).secureStateDirectory().isEmpty)
        // And QEMU's own user, asked as itself, reaches them.
        #expect(QEMUAccess.check(paths: LabPaths(stateDirectory: made)).reachable)
    }

    /// A home someone else owns is refused, not taken over, and left as it was.
    @Test(.enabled(if: getuid() == 0, "needs root"))
    func aStateDirectoryOwnedByAnotherUserIsRefusedNamingIt() throws {
        var template = Array((NSTemporaryDirectory() + "isolab-home-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileSystem.removeTree(made) }
        #expect(chown(made, 65534, 65534) == 0)
        do {
            try LabPaths(stateDirectory: made).secureStateDirectory()
            Issue.record("no error")
        } catch let error as LabError {
            #expect(error.exitStatus == 1 && error.message.hasPrefix("\(made) is owned by uid 65534, not root"))
        }
        var st = stat()
        stat(made, &st)
        #expect(st.st_uid == 65534 && st.st_mode & 0o777 == 0o700)
    }

    /// The doctor's question, asked as QEMU's user: a 0700 directory in its
    /// way is named as the block, with its mode; opened, the way is clear.
    @Test(.enabled(if: getuid() == 0 && QEMUUser.lookup() != nil, "needs root and QEMU's user (libvirt)"))
    func qemuAccessNamesTheDirectoryThatBlocksIt() throws {
        var template = Array((NSTemporaryDirectory() + "isolab-home-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileSystem.removeTree(made) }
        let paths = LabPaths(stateDirectory: made)
        try paths.secureStateDirectory()
        try FileSystem.makeDirectory(paths.kernels, mode: 0o700)
        try FileSystem.writeAtomically(paths.kernels + "/vmlinuz", text: "not a kernel")
        let blocked = QEMUAccess.check(paths: paths)
        #expect(!blocked.reachable)
        let finding = try #require(blocked.findings.first { $0.path == paths.kernels + "/vmlinuz" })
        #expect(finding.blockedAt == paths.kernels && finding.blockedMode == "mode 0700 root:root", "\(finding)")
        #expect(blocked.found.contains("cannot reach the guest kernel \(paths.kernels)/vmlinuz: blocked at \(paths.kernels)"))
        #expect(blocked.fix?.hasPrefix("run isolab gc") == true)
        #expect(blocked.closedToOthers == nil || blocked.closedToOthers == true)
        #expect(throws: LabError.self) { try QEMUAccess.require(paths: paths) }
        // gc's repair is the fix the row names.
        try paths.secureStateDirectory()
        let open = QEMUAccess.check(paths: paths)
        #expect(open.reachable && open.closedToOthers == true, "\(open.found)")
        #expect(open.found.contains("reaches 2 path(s): the guest kernel, the state directory"))
    }

    @Test func passageForTheUserNamespaceRootIsOneACLEntryAndKeepsTheRest() throws {
        var template = Array((NSTemporaryDirectory() + "isolab-acl-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileSystem.removeTree(made) }
        chmod(made, 0o710)
        try LabPaths(stateDirectory: made).grantPassage(toUser: 100_000)
        var bytes = [UInt8](repeating: 0, count: 256)
        let size = lab_getxattr(made, PosixACL.name, &bytes, bytes.count)
        try #require(size > 4, "no ACL was set (errno \(errno))")
        let entries = PosixACL.decode(Array(bytes[0..<Int(size)]))
        #expect(entries == [
            .init(tag: PosixACL.userObject, permissions: 7, id: PosixACL.undefinedID),
            .init(tag: PosixACL.user, permissions: 1, id: 100_000),
            .init(tag: PosixACL.groupObject, permissions: 1, id: PosixACL.undefinedID),
            .init(tag: PosixACL.mask, permissions: 1, id: PosixACL.undefinedID),
            .init(tag: PosixACL.other, permissions: 0, id: PosixACL.undefinedID),
        ])
        var st = stat()
        stat(made, &st)
        #expect(st.st_mode & 0o777 == 0o710, "others gained access")
        // Twice is once.
        try LabPaths(stateDirectory: made).grantPassage(toUser: 100_000)
        #expect(lab_getxattr(made, PosixACL.name, &bytes, bytes.count) == size)
        #expect(PosixACL.encode(entries) == Array(bytes[0..<Int(size)]))
    }
}
