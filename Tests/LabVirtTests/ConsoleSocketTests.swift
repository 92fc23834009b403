import Foundation
import LabCore
import LabModel
import Testing

@testable import LabVirt

/// The console socket takes only the connection of the domain's QEMU, by
/// SO_PEERCRED. Here the peer is this test process: expected, it is taken;
/// anything else expected, it is refused and the wait goes on to its deadline.
@Suite("console socket")
struct ConsoleSocketTests {
    func temporaryDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "isolab-console-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        return String(cString: made)
    }

    /// Connects to `path` from this process; returns the client's descriptor.
    func connect(to path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LabError.syscall("socket") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() where index < raw.count - 1 { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { close(fd); throw LabError.syscall("connect \(path)") }
        return fd
    }

    @Test func aPeerThatIsNotQEMUIsRefusedAndNamed() throws {
        let directory = try temporaryDirectory()
        defer { try? FileSystem.removeTree(directory) }
        let socket = try ConsoleSocket(path: directory + "/console.sock")
        let client = try connect(to: directory + "/console.sock")
        defer { close(client) }
        // Expect QEMU to be pid 1: this process is not, so it is refused.
        #expect(throws: LabError.self) { try socket.accept(deadline: MonotonicClock.now() + 300_000_000, expectedPID: 1) }
        #expect(socket.refused == ["pid \(getpid()) (uid \(getuid()))"])
        // The refused client sees its connection closed.
        var byte: UInt8 = 0
        #expect(read(client, &byte, 1) == 0)
    }

    @Test func theExpectedPeerIsTaken() throws {
        let directory = try temporaryDirectory()
        defer { try? FileSystem.removeTree(directory) }
        let socket = try ConsoleSocket(path: directory + "/console.sock")
        let client = try connect(to: directory + "/console.sock")
        defer { close(client) }
        let fd = try socket.accept(deadline: MonotonicClock.now() + 5_000_000_000, expectedPID: getpid())
        defer { close(fd) }
        #expect(socket.refused.isEmpty)
        #expect(write(client, "READY\n", 6) == 6)
        var bytes = [UInt8](repeating: 0, count: 6)
        #expect(read(fd, &bytes, 6) == 6 && bytes == Array("READY\n".utf8))
    }

    @Test func withoutAPIDOnlyQEMUsUserIsTaken() throws {
        let directory = try temporaryDirectory()
        defer { try? FileSystem.removeTree(directory) }
        let socket = try ConsoleSocket(path: directory + "/console.sock")
        let client = try connect(to: directory + "/console.sock")
        defer { close(client) }
        #expect(throws: LabError.self) {
            try socket.accept(deadline: MonotonicClock.now() + 300_000_000, expectedPID: nil, expectedUID: getuid() &+ 1)
        }
        #expect(socket.refused.count == 1)
    }
}
