import Foundation
import LabCore
import LabModel
import Testing

@testable import LabImage

/// A newc reader for the tests: the other half of the round trip.
struct CpioEntry: Equatable {
    var name: String
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var mtime: UInt32
    var data: [UInt8]
}

enum CpioReader {
    struct Malformed: Error { var reason: String }

    static func read(_ bytes: [UInt8]) throws -> [CpioEntry] {
        var entries: [CpioEntry] = []
        var offset = 0
        func align(_ n: Int) -> Int { (n + 3) & ~3 }
        while true {
            guard offset + 110 <= bytes.count else { throw Malformed(reason: "truncated header at \(offset)") }
            guard String(decoding: bytes[offset..<offset + 6], as: UTF8.self) == "070701" else {
                throw Malformed(reason: "bad magic at \(offset)")
            }
            func field(_ i: Int) throws -> UInt32 {
                let start = offset + 6 + i * 8
                guard let value = UInt32(String(decoding: bytes[start..<start + 8], as: UTF8.self), radix: 16) else {
                    throw Malformed(reason: "bad hex field \(i) at \(offset)")
                }
                return value
            }
            let mode = try field(1), uid = try field(2), gid = try field(3), mtime = try field(5)
            let size = Int(try field(6)), nameSize = Int(try field(11))
            let nameStart = offset + 110
            guard nameSize > 0, bytes[nameStart + nameSize - 1] == 0 else { throw Malformed(reason: "name not NUL-terminated") }
            let name = String(decoding: bytes[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
            let dataStart = align(nameStart + nameSize)
            guard dataStart + size <= bytes.count else { throw Malformed(reason: "truncated data of \(name)") }
            if name == "TRAILER!!!" { return entries }
            entries.append(CpioEntry(name: name, mode: mode, uid: uid, gid: gid, mtime: mtime,
                                     data: Array(bytes[dataStart..<dataStart + size])))
            offset = align(dataStart + size)
        }
    }
}

@Suite("cpio newc writer")
struct CpioWriterTests {
    static let big: [UInt8] = (0..<(1_100_000)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }
    static let longName = "dir/" + String(repeating: "long-name-", count: 20) + "end.txt"

    func sampleArchive() throws -> [UInt8] {
        var writer = CpioWriter(mtime: 1_700_000_000)
        try writer.appendDirectory("dir")
        try writer.appendFile("dir/hello.txt", contents: Array("hello\n".utf8))
        try writer.appendFile("/dir/empty", mode: 0o600, contents: [])
        try writer.appendFile("dir/big.bin", mode: 0o755, contents: Self.big)
        try writer.appendFile(Self.longName, contents: Array("x".utf8))
        try writer.appendSymlink("dir/link", target: "hello.txt")
        writer.finish()
        return writer.bytes
    }

    @Test func roundTripsThroughTheReader() throws {
        let entries = try CpioReader.read(try sampleArchive())
        #expect(entries.map(\.name) == ["dir", "dir/hello.txt", "dir/empty", "dir/big.bin", Self.longName, "dir/link"])
        #expect(entries[0].mode == 0o040755)
        #expect(entries[1].data == Array("hello\n".utf8))
        #expect(entries[2].mode == 0o100600 && entries[2].data.isEmpty)
        #expect(entries[3].data == Self.big)
        #expect(entries[5].mode == 0o120777 && entries[5].data == Array("hello.txt".utf8))
        #expect(entries.allSatisfy { $0.uid == 0 && $0.gid == 0 && $0.mtime == 1_700_000_000 })
    }

    @Test func sameEntriesGiveTheSameBytes() throws {
        #expect(try sampleArchive() == sampleArchive())
    }

    @Test func everyHeaderIsFourByteAligned() throws {
        let bytes = try sampleArchive()
        #expect(bytes.count % 4 == 0)
    }

    @Test(arguments: ["", "/", "..", "a/../../b", "../etc/passwd", "./.."])
    func namesOutsideTheRootAreRefused(_ path: String) {
        var writer = CpioWriter()
        #expect(throws: LabError.self) { try writer.appendFile(path, contents: []) }
    }

    @Test func emptySymlinkTargetIsRefused() {
        var writer = CpioWriter()
        #expect(throws: LabError.self) { try writer.appendSymlink("a", target: "") }
    }

    /// GNU cpio (installed by scripts/setup-host) lists and extracts the archive.
    @Test func gnuCpioAgrees() throws {
        let cpio = try #require(HostCommand.which("cpio"), "GNU cpio is not installed; run scripts/setup-host")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("isolab-cpio-\(UUID().uuidString)").path
        try FileSystem.createDirectory(dir, mode: 0o755, parents: 0o755)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let archive = dir + "/archive.cpio"
        try FileSystem.writeAtomically(archive, bytes: try sampleArchive())

        let list = try HostCommand.run("/bin/sh", ["-c", "\(cpio) -t --quiet < \(archive)"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.split(separator: "\n") == ["dir", "dir/hello.txt", "dir/empty", "dir/big.bin", Substring(Self.longName), "dir/link"])

        let out = dir + "/out"
        try FileSystem.createDirectory(out, mode: 0o755, parents: 0o755)
        let extract = try HostCommand.run("/bin/sh", ["-c", "cd \(out) && \(cpio) -i --quiet --make-directories < \(archive)"])
        #expect(extract.status == 0, "\(extract.stderr)")
        #expect(try FileSystem.readBytes(out + "/dir/big.bin") == Self.big)
        #expect(try FileSystem.readText(out + "/dir/hello.txt") == "hello\n")
        #expect(try FileSystem.readBytes(out + "/dir/empty").isEmpty)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out + "/dir/link") == "hello.txt")
        let attributes = try FileManager.default.attributesOfItem(atPath: out + "/dir/big.bin")
        #expect((attributes[.posixPermissions] as? Int) == 0o755)
    }
}
