import Foundation
import Glibc
import LabModel
import Testing
import CLabShim

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

    @Test func aStateDirectoryOpenToOthersIsClosedAndAPrivateOneIsLeftAsItIs() throws {
        var template = Array((NSTemporaryDirectory() + "isolab-home-XXXXXX").utf8CString)
        let made = try #require(mkdtemp(&template).map { String(cString: $0) })
        defer { try? FileSystem.removeTree(made) }
        chmod(made, 0o755)
        try LabPaths(stateDirectory: made).secureStateDirectory()
        var st = stat()
        stat(made, &st)
        #expect(st.st_mode & 0o007 == 0, "others can still enter: \(String(st.st_mode & 0o777, radix: 8))")
        if getuid() == 0, let qemu = QEMUUser.lookup() {
            #expect(st.st_mode & 0o777 == 0o710 && st.st_gid == qemu.gid)
        }
        chmod(made, 0o700)
        try LabPaths(stateDirectory: made).secureStateDirectory()
        stat(made, &st)
        #expect(st.st_mode & 0o777 == 0o700)
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
