import Glibc
import LabCore
import LabModel
import Testing

@testable import LabContainer

@Suite("An image's User, resolved in the image's own files")
struct ImageUserTests {
    func spec(passwd: String, group: String) throws -> (ContainerSpec, String) {
        var template = Array("/tmp/isolab-user-XXXXXX".utf8CString)
        let root = String(cString: mkdtemp(&template)!)
        try FileSystem.makeDirectory(root + "/etc", mode: 0o755)
        try FileSystem.writeAtomically(root + "/etc/passwd", text: passwd)
        try FileSystem.writeAtomically(root + "/etc/group", text: group)
        return (ContainerSpec(rootfs: root, command: ["/bin/sh"], capabilities: 0), root)
    }

    @Test func namesNumbersAndGroupsResolve() throws {
        let (spec, root) = try spec(passwd: "root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n", group: "root:x:0:\nstaff:x:50:\n")
        defer { try? FileSystem.removeTree(root) }
        #expect(try spec.resolveUser("app") == (1234, 2345))
        #expect(try spec.resolveUser("1234") == (1234, 2345))
        #expect(try spec.resolveUser("app:staff") == (1234, 50))
        #expect(try spec.resolveUser("77:88") == (77, 88))
        #expect(try spec.resolveUser("77") == (77, 0))
        #expect(throws: LabError.self) { try spec.resolveUser("nobody") }
        #expect(throws: LabError.self) { try spec.resolveUser("app:wheel") }
    }
}
