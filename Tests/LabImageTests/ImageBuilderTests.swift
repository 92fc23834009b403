import Foundation
import LabCore
import LabModel
import Testing

@testable import LabImage

/// A store in a temporary directory, removed afterwards.
final class TemporaryStore {
    let paths: LabPaths
    let store: ImageStore

    init() throws {
        var template = Array("/tmp/isolab-store-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        paths = LabPaths(stateDirectory: String(cString: dir))
        store = ImageStore(paths: paths)
    }

    deinit { try? FileSystem.removeTree(paths.stateDirectory) }

    /// The agent is any executable here: these tests look at the layout, not at running it.
    func builder() -> ImageBuilder { ImageBuilder(store: store, agentPath: "/bin/true") }

    /// Every path under the store, to show that a failed build changed nothing.
    func snapshot() -> [String] {
        func walk(_ path: String) -> [String] {
            FileSystem.list(path).flatMap { name -> [String] in
                let child = path + "/" + name
                return [child] + (FileSystem.isDirectory(child) ? walk(child) : [])
            }
        }
        return walk(paths.stateDirectory)
    }
}

@Suite("image builder and store (temporary store)")
struct ImageBuilderTests {
    @Test func sameDefinitionGivesTheSameDigestAndBytesInAnyStore() throws {
        let a = try TemporaryStore(), b = try TemporaryStore()
        let one = try a.builder().build(.builtinBusybox)
        let two = try b.builder().build(.builtinBusybox)
        #expect(!one.cached && !two.cached)
        #expect(one.record.manifest.digest == two.record.manifest.digest)
        #expect(try FileSystem.readBytes(one.record.initramfs) == FileSystem.readBytes(two.record.initramfs))
        #expect(one.record.manifest.digest.hasPrefix("sha256:") && one.record.manifest.digestHex.count == 64)
    }

    /// A host file keeps its own mode and owner in the image (the rootfs,
    /// the manifest and the cpio), and a file others cannot read is said so.
    @Test(.enabled(if: geteuid() == 0 || ProcessInfo.processInfo.environment["ISOLAB_REQUIRE_ALL"] == "1", "needs root (chown to another owner)"))
    func aHostFileKeepsItsModeAndOwner() throws {
        let temporary = try TemporaryStore()
        let secret = temporary.paths.stateDirectory + "/secret.conf"
        try FileSystem.writeAtomically(secret, text: "key\n", mode: 0o600)
        guard chown(secret, 1234, 5678) == 0 else { throw LabError.syscall("chown") }
        let definition = ImageDefinition(name: "owned", files: [.init(path: "/etc/secret.conf", source: secret)])
        let result = try temporary.builder().build(definition)
        var st = stat()
        #expect(stat(result.record.rootfs + "/etc/secret.conf", &st) == 0)
        #expect(st.st_mode & 0o7777 == 0o600 && st.st_uid == 1234 && st.st_gid == 5678)
        let entry = result.record.manifest.files.first { $0.path == "/etc/secret.conf" }
        #expect(entry?.mode == "0600" && entry?.uid == 1234 && entry?.gid == 5678)
        #expect(result.warnings.count == 1 && result.warnings[0].contains("not readable by others") && result.warnings[0].contains("/etc/secret.conf"))
        // A mode the definition gives wins; the owner is still the file's.
        let given = try temporary.builder().build(ImageDefinition(name: "given", files: [.init(path: "/etc/secret.conf", source: secret, mode: 0o640)]))
        #expect(given.record.manifest.files.first { $0.path == "/etc/secret.conf" }?.mode == "0640")
    }

    @Test func rebuildWithUnchangedInputsIsACacheHit() throws {
        let temporary = try TemporaryStore()
        let first = try temporary.builder().build(.builtinBusybox)
        let before = temporary.snapshot()
        let second = try temporary.builder().build(.builtinBusybox)
        #expect(second.cached)
        #expect(second.record.manifest == first.record.manifest)
        #expect(temporary.snapshot() == before)
    }

    /// A store that only starts instances reads the manifest without its
    /// file list; everything else is the same, and the full read still has it.
    @Test func aStoreThatSkipsFileListsReadsTheRestOfTheManifestAlike() throws {
        let temporary = try TemporaryStore()
        let full = try temporary.builder().build(.builtinBusybox).record.manifest
        var lean = temporary.store
        lean.readsFileLists = false
        let head = try lean.resolve("busybox").manifest
        #expect(head.files.isEmpty && full.files.count > 100)
        var withoutFiles = full
        withoutFiles.files = []
        #expect(head == withoutFiles)
        #expect(try temporary.store.resolve("busybox").manifest == full)
    }

    @Test func manifestRecordsEveryFileAndTheFootprint() throws {
        let temporary = try TemporaryStore()
        let manifest = try temporary.builder().build(.builtinBusybox).record.manifest
        let busybox = try #require(manifest.files.first { $0.path == "/bin/busybox" })
        #expect(busybox.type == .file && busybox.mode == "0755")
        #expect(busybox.sha256 == (try FileSystem.readBytes("/bin/busybox")).sha256Hex)
        #expect(manifest.files.contains { $0.path == "/init" && $0.target == "sbin/isolab-agent" })
        #expect(manifest.files.contains { $0.path == "/bin/sh" && $0.type == .symlink && $0.target == "busybox" })
        #expect(manifest.files.contains { $0.path == "/usr/bin/awk" && $0.target == "../../bin/busybox" })
        #expect(manifest.files.contains { $0.path == "/tmp" && $0.mode == "01777" })
        #expect(manifest.totalBytes == manifest.files.compactMap(\.size).reduce(0, +))
        #expect(manifest.footprint.rootfsBytes == manifest.totalBytes)
        #expect(manifest.footprint.initramfsBytes > manifest.totalBytes)
        #expect(manifest.agentProtocolVersion == 1)
        #expect(manifest.config.entrypoint == ["/sbin/isolab-agent"])
    }

    @Test func rootfsMatchesTheManifest() throws {
        let temporary = try TemporaryStore()
        let record = try temporary.builder().build(.builtinBusybox).record
        for file in record.manifest.files {
            var st = stat()
            #expect(lstat(record.rootfs + file.path, &st) == 0, "\(file.path) missing from rootfs")
            switch file.type {
            case .directory: #expect((st.st_mode & S_IFMT) == S_IFDIR)
            case .symlink: #expect((st.st_mode & S_IFMT) == S_IFLNK)
            case .file:
                #expect((st.st_mode & S_IFMT) == S_IFREG && Int(st.st_size) == file.size)
                #expect("0" + String(st.st_mode & 0o7777, radix: 8) == file.mode)
            }
        }
    }

    @Test func gzipOptionCompressesTheSameArchive() throws {
        let temporary = try TemporaryStore()
        let plain = try temporary.builder().build(ImageDefinition(name: "plain", base: .empty))
        let packed = try temporary.builder().build(ImageDefinition(name: "packed", base: .empty, gzip: true))
        #expect(packed.record.manifest.footprint.initramfsFile == "initramfs.cpio.gz")
        #expect(plain.record.manifest.digest != packed.record.manifest.digest)
        let unpacked = try HostCommand.run("/bin/sh", ["-c", "gzip -dc < \(packed.record.initramfs) | sha256sum"])
        #expect(unpacked.stdout.hasPrefix(try FileSystem.readBytes(plain.record.initramfs).sha256Hex))
    }

    @Test(arguments: [
        (ImageDefinition(name: "x", binaries: ["/nonexistent/redis-server"]), "binaries[0]: binary /nonexistent/redis-server not found"),
        (ImageDefinition(name: "x", binaries: ["relative/ls"]), "must be an absolute host path"),
        (ImageDefinition(name: "x", files: [.init(path: "/../escape", content: "x")]), "escapes the image root"),
        (ImageDefinition(name: "x", files: [.init(path: "/etc/l", link: "/etc/shadow")]), "points outside the image"),
        (ImageDefinition(name: "x", files: [.init(path: "/etc/l", link: "../../../etc/shadow")]), "escapes the image root"),
        (ImageDefinition(name: "x", files: [.init(path: "/a", content: "1"), .init(path: "/a", content: "2")]), "duplicate path /a"),
        (ImageDefinition(name: "x", files: [.init(path: "relative", content: "1")]), "must be absolute"),
        (ImageDefinition(name: "x", files: [.init(path: "/a", source: "/nonexistent")]), "is not a file on the host"),
    ])
    func hostileDefinitionsFailAndLeaveTheStoreUnchanged(_ definition: ImageDefinition, _ expected: String) throws {
        let temporary = try TemporaryStore()
        _ = try temporary.builder().build(ImageDefinition(name: "before", base: .empty))
        let before = temporary.snapshot()
        do {
            _ = try temporary.builder().build(definition)
            Issue.record("accepted")
        } catch let error as LabError {
            #expect(error.code == .invalidInput || error.code == .notFound)
            #expect(error.message.contains(expected), "\(error.message)")
        }
        #expect(temporary.snapshot() == before)
    }

    @Test func referencesByNameAndDigestPrefix() throws {
        let temporary = try TemporaryStore()
        let built = try temporary.builder().build(ImageDefinition(name: "tiny", base: .empty)).record
        let hex = built.manifest.digestHex
        #expect(try temporary.store.resolve("tiny").manifest.digest == built.manifest.digest)
        #expect(try temporary.store.resolve(String(hex.prefix(8))).names == ["tiny"])
        #expect(try temporary.store.resolve("sha256:" + hex.prefix(10)).manifest.digest == built.manifest.digest)
        #expect(throws: LabError.self) { try temporary.store.resolve(String(hex.prefix(7))) }
        #expect(throws: LabError.self) { try temporary.store.resolve("nope") }
        let removed = try temporary.store.remove("tiny")
        #expect(removed.names == ["tiny"])
        #expect(temporary.store.list().isEmpty)
        #expect(temporary.store.tagTable().isEmpty)
        #expect(!FileSystem.exists(built.directory))
    }

    @Test func abandonedBuildDirectoriesOfDeadProcessesAreCleared() throws {
        let temporary = try TemporaryStore()
        try FileSystem.createDirectory(temporary.store.root + "/.build-999999-abcdef/rootfs", mode: 0o755, parents: 0o755)
        _ = try temporary.builder().build(ImageDefinition(name: "t", base: .empty))
        #expect(!FileSystem.exists(temporary.store.root + "/.build-999999-abcdef"))
    }
}
