import Foundation
import LabCore
import LabModel
import Testing

@testable import LabImage

/// Pull and push against a real registry on loopback (Debian's
/// docker-registry, the distribution project's server), with skopeo as the
/// cross-check client both ways; Basic and bearer-token authentication;
/// broken connections, interruption, tampering and a full registry.
@Suite("Integration (root, this host): the registry", .needsRoot,
       Needs.condition(RegistryFixture.executable != nil && HostCommand.which("skopeo") != nil, "needs docker-registry and skopeo (scripts/setup-host --tests)"))
struct RegistryIntegrationTests {
    static func skopeo(_ arguments: [String]) throws -> HostCommand.Output {
        let output = try HostCommand.run(try #require(HostCommand.which("skopeo")), arguments, timeout: 300)
        #expect(output.status == 0, "skopeo \(arguments): \(output.stderr)")
        return output
    }

    /// A base of busybox and a top layer of its own: two images with the same base share it.
    static func layout(_ path: String, top: String, ref: String = "v1") throws -> String {
        var options = OCIFixture.Options()
        options.ref = ref
        options.config = ["Cmd": ["/bin/cat", "/top"]]
        return try OCIFixture.write(path, layers: [try OCIFixture.busyboxBase(), [OCIFixture.text("top", top + "\n")]], options)
    }

    func leftovers(_ home: TemporaryHome) -> [String] {
        FileSystem.list(home.paths.path(.imageBlobs)).filter { !OCI.Digest.isHex64($0) }
            + FileSystem.list(home.paths.path(.imageTemp)) + FileSystem.list(home.paths.path(.imageLayers)).filter { !OCI.Digest.isHex64($0) }
    }

    @Test func whatTheLabPushesSkopeoCopiesBackByteForByteAndASecondHomeRuns() throws {
        let registry = try RegistryFixture()
        let home = try TemporaryHome()
        let digest = try Self.layout(home.path + "/layout", top: "first")
        #expect(try home.isolab(["image", "import", home.path + "/layout:v1", "--name", "first"]).status == 0)
        let ref = registry.host + "/lab/first:v1"
        let pushed = try home.isolab(["image", "push", "first", ref])
        #expect(pushed.status == 0 && pushed.stdout.contains(digest) && pushed.stdout.contains("3 blobs uploaded"), "\(pushed.stdout) \(pushed.stderr)")
        // Again: every blob is there already (HEAD), only the manifest goes.
        let again = try home.isolab(["image", "push", "first", ref])
        #expect(again.stdout.contains("0 blobs uploaded") && again.stdout.contains("3 already there"), "\(again.stdout) \(again.stderr)")

        // skopeo reads it back with the same manifest digest and the same bytes.
        let raw = try Self.skopeo(["inspect", "--tls-verify=false", "--raw", "docker://" + ref])
        #expect(OCI.Digest(of: Array(raw.stdout.utf8)).description == digest)
        _ = try Self.skopeo(["copy", "--src-tls-verify=false", "docker://" + ref, "oci:" + home.path + "/back:v1"])
        let index = try JSONDecoder().decode(OCI.Index.self, from: Data(try FileSystem.readBytes(home.path + "/back/index.json")))
        #expect(index.manifests.first?.digest.description == digest)
        for blob in FileSystem.list(home.path + "/layout/blobs/sha256") {
            #expect(try FileSystem.readBytes(home.path + "/back/blobs/sha256/" + blob) == FileSystem.readBytes(home.path + "/layout/blobs/sha256/" + blob), "blob \(blob)")
        }

        // "Built once, runs anywhere": a second home pulls the same digest and runs it.
        let second = try TemporaryHome()
        let pulled = try second.isolab(["image", "pull", ref])
        #expect(pulled.status == 0 && pulled.stdout.contains(digest) && pulled.stdout.contains("3 blobs fetched"), "\(pulled.stdout) \(pulled.stderr)")
        let ran = try second.isolab(["container", "run", "--image", ref])
        #expect(ran.status == 0 && ran.stdout == "first\n", "\(ran.stdout) \(ran.stderr)")
        let listed = try second.isolab(["image", "ls"])
        #expect(listed.stdout.contains(ref), "\(listed.stdout)")
        // No tag is latest, both ways, and the short form finds the stored image.
        #expect(try home.isolab(["image", "push", "first", registry.host + "/lab/first"]).status == 0)
        #expect(try second.isolab(["image", "pull", registry.host + "/lab/first"]).status == 0)
        #expect(try second.isolab(["image", "inspect", registry.host + "/lab/first"]).stdout.contains(digest))
        #expect(try second.isolab(["image", "inspect", registry.host + "/lab/first:latest"]).stdout.contains(digest))
        // Pulled again: nothing fetched.
        let warm = try second.isolab(["image", "pull", ref])
        #expect(warm.stdout.contains("0 blobs fetched") && warm.stdout.contains("3 already stored"), "\(warm.stdout)")
        // Pushed to another repository of the same registry: every blob mounted from the one it came from.
        let copied = try second.isolab(["image", "push", ref, registry.host + "/lab/copy:v1"])
        #expect(copied.status == 0 && copied.stdout.contains("0 blobs uploaded") && copied.stdout.contains("3 mounted"), "\(copied.stdout) \(copied.stderr)")
        // A built image goes in its OCI form; what comes back runs.
        let built = try home.isolab(["image", "push", "busybox", registry.host + "/lab/busybox"])
        #expect(built.status == 0, "\(built.stderr)")
        let builtBack = try second.isolab(["image", "pull", registry.host + "/lab/busybox", "--name", "bb"])
        #expect(builtBack.status == 0, "\(builtBack.stderr)")
        #expect(try second.isolab(["container", "run", "--image", "bb", "--", "/bin/echo", "ok"]).stdout == "ok\n")
        #expect(leftovers(second).isEmpty, "\(leftovers(second))")
    }

    @Test func whatSkopeoPushesTheLabPullsWithTheSameDigestsAndSharesTheBase() throws {
        let registry = try RegistryFixture()
        let home = try TemporaryHome()
        let first = try Self.layout(home.path + "/one", top: "one")
        let second = try Self.layout(home.path + "/two", top: "two")
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/one:v1", "docker://\(registry.host)/lab/one:v1"])
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/two:v1", "docker://\(registry.host)/lab/two:v1"])
        let one = try home.isolab(["image", "pull", registry.host + "/lab/one:v1"])
        #expect(one.status == 0 && one.stdout.contains(first) && one.stdout.contains("3 blobs fetched"), "\(one.stdout) \(one.stderr)")
        // The second image's base layer is the first's: stored once, not fetched again.
        let two = try home.isolab(["image", "pull", registry.host + "/lab/two:v1"])
        #expect(two.status == 0 && two.stdout.contains(second) && two.stdout.contains("2 blobs fetched") && two.stdout.contains("1 already stored"), "\(two.stdout) \(two.stderr)")
        let inspect = try home.isolab(["image", "inspect", registry.host + "/lab/two:v1"])
        #expect(inspect.stdout.contains(registry.host + "/lab/one:v1"), "the shared base names both images: \(inspect.stdout)")
        #expect(try home.isolab(["container", "run", "--image", registry.host + "/lab/two:v1"]).stdout == "two\n")
        // By digest as well.
        let byDigest = try home.isolab(["image", "pull", registry.host + "/lab/one@" + first, "--name", "one"])
        #expect(byDigest.status == 0 && byDigest.stdout.contains("0 blobs fetched"), "\(byDigest.stdout) \(byDigest.stderr)")
    }

    @Test func badInputSaysWhatIsWrongAndLeavesNothing() throws {
        let registry = try RegistryFixture()
        let home = try TemporaryHome()
        let digest = try Self.layout(home.path + "/layout", top: "x")
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/layout:v1", "docker://\(registry.host)/lab/x:v1"])

        let noTag = try home.isolab(["image", "pull", registry.host + "/lab/x:nope"])
        #expect(noTag.status == 2 && noTag.stderr.contains("no such image") && noTag.stderr.contains("MANIFEST_UNKNOWN"), "\(noTag.stderr)")
        let down = try home.isolab(["image", "pull", "127.0.0.1:\(try RegistryFixture.freePort())/lab/x:v1"])
        #expect(down.status == 1 && down.stderr.contains("cannot reach the registry") && down.stderr.contains("connection refused"), "\(down.stderr)")
        let noHost = try home.isolab(["image", "pull", "busybox"])
        #expect(noHost.status == 2 && noHost.stderr.contains("no registry host"), "\(noHost.stderr)")
        // A digest that is not the image's: said before anything is sent.
        #expect(try home.isolab(["image", "import", home.path + "/layout:v1", "--name", "x"]).status == 0)
        let wrongDigest = try home.isolab(["image", "push", "x", registry.host + "/lab/y:v1@sha256:" + String(repeating: "0", count: 64)])
        #expect(wrongDigest.status == 2 && wrongDigest.stderr.contains("push it by tag"), "\(wrongDigest.stderr)")
        #expect(try home.isolab(["image", "rm", "x"]).status == 0)
        #expect(try home.isolab(["gc"]).status == 0)
        let unknown = try home.isolab(["image", "push", "nothing-here", registry.host + "/lab/y:v1"])
        #expect(unknown.status == 2 && unknown.stderr.contains("no image named"), "\(unknown.stderr)")

        // An image for another platform: said, and not stored.
        var arm = OCIFixture.Options()
        arm.architecture = "arm64"
        try OCIFixture.write(home.path + "/arm", layers: [[OCIFixture.text("a", "a\n")]], arm)
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/arm:v1", "docker://\(registry.host)/lab/arm:v1"])
        let platform = try home.isolab(["image", "pull", registry.host + "/lab/arm:v1"])
        #expect(platform.status == 2 && platform.stderr.contains("linux/arm64"), "\(platform.stderr)")

        // A layer whose entry climbs out is refused by the importer's own path; a device node is skipped, and said.
        try OCIFixture.write(home.path + "/climb", layers: [[.directory("etc/"), OCIFixture.text("etc/../../evil", "x")]])
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/climb:v1", "docker://\(registry.host)/lab/climb:v1"])
        let climb = try home.isolab(["image", "pull", registry.host + "/lab/climb:v1"])
        #expect(climb.status == 2 && climb.stderr.contains("climbs out of the layer"), "\(climb.stderr)")
        #expect(!FileSystem.exists(home.paths.path(.imageLayers) + "/evil") && !FileSystem.exists(home.paths.path(.images) + "/evil"))
        try OCIFixture.write(home.path + "/device", layers: [try OCIFixture.busyboxBase() + [.directory("dev/"), .characterDevice("dev/thing")]])
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/device:v1", "docker://\(registry.host)/lab/device:v1"])
        let device = try home.isolab(["image", "pull", registry.host + "/lab/device:v1"])
        #expect(device.status == 0 && device.stderr.contains("warning: skipped") && device.stderr.contains("dev/thing"), "\(device.stderr)")
        #expect(try home.isolab(["image", "rm", registry.host + "/lab/device:v1"]).status == 0)
        #expect(try home.isolab(["gc"]).status == 0)

        // A tampered blob in the registry's storage: refused, nothing stored of it, no image.
        let manifest = try JSONDecoder().decode(OCI.Manifest.self, from: Data(try FileSystem.readBytes(home.path + "/layout/blobs/sha256/" + digest.dropFirst(7))))
        let layer = manifest.layers[1].digest
        var bytes = try FileSystem.readBytes(registry.blobData(layer.description))
        bytes[bytes.count / 2] ^= 0xFF
        try FileSystem.writeAtomically(registry.blobData(layer.description), bytes: bytes)
        let tampered = try home.isolab(["image", "pull", registry.host + "/lab/x:v1"])
        #expect(tampered.status == 2 && tampered.stderr.contains("does not match its digest"), "\(tampered.stderr)")
        #expect(!FileSystem.exists(home.paths.path(.imageBlobs) + "/" + layer.hex))
        #expect(try home.isolab(["image", "ls"]).stdout.split(separator: "\n").count == 1, "no image listed")
        #expect(leftovers(home).isEmpty, "\(leftovers(home))")
        // The blobs it did verify stay for the next pull; gc removes them while no image names them.
        let gc = try home.isolab(["gc"])
        #expect(gc.status == 0 && FileSystem.list(home.paths.path(.imageBlobs)).filter { OCI.Digest.isHex64($0) }.isEmpty, "\(gc.stdout)")
    }

    @Test func basicCredentialsFromAFileOnlyItsOwnerReads() throws {
        let registry = try RegistryFixture(auth: .basic)
        let home = try TemporaryHome()
        try Self.layout(home.path + "/layout", top: "secret")
        #expect(try home.isolab(["image", "import", home.path + "/layout:v1", "--name", "s"]).status == 0)
        let ref = registry.host + "/lab/s:v1"
        let anonymous = try home.isolab(["image", "push", "s", ref])
        #expect(anonymous.status == 1 && anonymous.stderr.contains("asks for a user name and password"), "\(anonymous.stderr)")
        let open = try home.isolab(["image", "push", "s", ref, "--authfile", try registry.authFile(mode: 0o644)])
        #expect(open.status == 2 && open.stderr.contains("chmod 600"), "\(open.stderr)")
        let wrong = try home.isolab(["image", "push", "s", ref, "--authfile", try registry.authFile(password: "wrong")])
        #expect(wrong.status == 1 && wrong.stderr.contains("refused"), "\(wrong.stderr)")
        let good = try registry.authFile()
        #expect(try home.isolab(["image", "push", "s", ref, "--authfile", good]).status == 0)
        let second = try TemporaryHome()
        let pulled = try HostCommand.run(try isolabExecutable(), ["image", "pull", ref], timeout: 60,
                                         environment: ["ISOLAB_HOME": second.path, "REGISTRY_AUTH_FILE": good])
        #expect(pulled.status == 0, "\(pulled.stderr)")
    }

    @Test func bearerTokensFromTheRealmTheRegistryNames() throws {
        let registry = try RegistryFixture(auth: .token)
        let home = try TemporaryHome()
        let digest = try Self.layout(home.path + "/layout", top: "token")
        #expect(try home.isolab(["image", "import", home.path + "/layout:v1", "--name", "t"]).status == 0)
        let ref = registry.host + "/lab/t:v1"
        let anonymous = try home.isolab(["image", "push", "t", ref])
        #expect(anonymous.status == 1 && anonymous.stderr.contains("token"), "\(anonymous.stderr)")
        let auth = try registry.authFile()
        let pushed = try home.isolab(["image", "push", "t", ref, "--authfile", auth])
        #expect(pushed.status == 0, "\(pushed.stderr)")
        let second = try TemporaryHome()
        let pulled = try second.isolab(["image", "pull", ref, "--authfile", auth])
        #expect(pulled.status == 0 && pulled.stdout.contains(digest), "\(pulled.stdout) \(pulled.stderr)")
        // skopeo pulls what the lab pushed through the same token service.
        _ = try Self.skopeo(["inspect", "--tls-verify=false", "--authfile", auth, "docker://" + ref])
    }

    @Test func aConnectionBrokenInABlobIsResumedWhereItBroke() throws {
        let registry = try RegistryFixture()
        let home = try TemporaryHome()
        // A layer large enough to be cut: 4 MiB that gzip cannot shrink.
        var options = OCIFixture.Options()
        options.ref = "v1"
        var random = SystemRandomNumberGenerator()
        let noise = (0..<(4 << 20)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let digest = try OCIFixture.write(home.path + "/layout", layers: [try OCIFixture.busyboxBase() + [.file("noise", noise)]], options)
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/layout:v1", "docker://\(registry.host)/lab/big:v1"])
        let proxy = try registry.proxy("drop")
        let pulled = try HostCommand.run(try isolabExecutable(), ["image", "pull", "127.0.0.1:\(proxy.port)/lab/big:v1", "--name", "big"], timeout: 120,
                                         environment: ["ISOLAB_HOME": home.path, "ISOLAB_REGISTRY_BACKOFF": "0.05"])
        #expect(pulled.status == 0 && pulled.stdout.contains(digest), "\(pulled.stdout) \(pulled.stderr)")
        let log = FileSystem.readTextIfPresent(proxy.log) ?? ""
        let cut = try #require(log.split(separator: "\n").first { $0.hasPrefix("cut ") }, "the proxy cut a blob: \(log)")
        // Resumed, not restarted: a Range from the bytes that arrived (those the
        // proxy sent before it closed, less what was still in flight).
        let sent = try #require(cut.split(separator: " ").dropFirst(3).first.flatMap { Int($0) })
        let resumed = log.split(separator: "\n").compactMap { line in line.range(of: "range=bytes=").map { Int(line[$0.upperBound...].dropLast()) ?? -1 } }
        #expect(resumed.count == 1 && resumed.allSatisfy { $0 > 0 && $0 <= sent }, "the pull resumed within the \(sent) bytes sent: \(log)")
        #expect(try home.isolab(["container", "run", "--image", "big", "--", "/bin/ls", "/noise"]).stdout == "/noise\n")
    }

    @Test func anInterruptedPullLeavesNoImageAndNoPartialFile() throws {
        let registry = try RegistryFixture()
        let home = try TemporaryHome()
        var options = OCIFixture.Options()
        options.ref = "v1"
        let noise = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255) }
        try OCIFixture.write(home.path + "/layout", layers: [[.file("noise", noise)]], options)
        _ = try Self.skopeo(["copy", "--dest-tls-verify=false", "oci:" + home.path + "/layout:v1", "docker://\(registry.host)/lab/slow:v1"])
        let proxy = try registry.proxy("stall")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try isolabExecutable())
        process.arguments = ["image", "pull", "127.0.0.1:\(proxy.port)/lab/slow:v1", "--name", "slow"]
        process.environment = ProcessInfo.processInfo.environment.merging(["ISOLAB_HOME": home.path]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Once the blob is half-way (the proxy says so, and a partial file is there), Ctrl-C.
        var partial = false
        for _ in 0..<300 where !partial {
            usleep(50_000)
            partial = (FileSystem.readTextIfPresent(proxy.log) ?? "").contains("cut ")
                && FileSystem.list(home.paths.path(.imageBlobs)).contains { $0.hasPrefix(".pull-") }
        }
        #expect(partial, "the pull was stalled half-way with a partial blob")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(leftovers(home).isEmpty, "\(leftovers(home))")
        #expect(try home.isolab(["image", "ls"]).stdout.split(separator: "\n").count == 1, "no image listed")
    }

    @Test func aRegistryOutOfSpaceIsSaidAtOnce() throws {
        var template = Array("/tmp/isolab-full-XXXXXX".utf8CString)
        let storage = String(cString: try #require(mkdtemp(&template)))
        let mounted = try HostCommand.run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", storage], timeout: 30)
        try #require(mounted.status == 0, "\(mounted.stderr)")
        defer {
            _ = try? HostCommand.run("/bin/umount", [storage], timeout: 30)
            rmdir(storage)
        }
        let registry = try RegistryFixture(storage: storage)
        let home = try TemporaryHome()
        let noise = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255) }
        try OCIFixture.write(home.path + "/layout", layers: [[.file("noise", noise)]])
        #expect(try home.isolab(["image", "import", home.path + "/layout:v1", "--name", "big"]).status == 0)
        let pushed = try home.isolab(["image", "push", "big", registry.host + "/lab/big:v1"])
        #expect(pushed.status == 1 && pushed.stderr.contains("out of space"), "\(pushed.stderr)")
        #expect(pushed.stderr.split(separator: "\n").count == 1, "one line: \(pushed.stderr)")
    }
}
