import Foundation
import LabCore
import LabModel
import Testing

import LabAnalysis
import LabRunner
@testable import LabImage

/// OCI images: import (layout, its tar, docker save), run in the lab's own
/// containers on their layers, export, and the cross-checks with umoci and
/// skopeo from Debian's packages. Each test has a home of its own.
@Suite("Integration (root, this host): OCI images", .needsRoot)
struct OCIIntegrationTests {
    /// Two layers: the base with a file the top one hides (whiteout), a
    /// directory the top one makes opaque, and a user of the image's own.
    static func baseLayer() throws -> [OCIFixture.Entry] {
        try OCIFixture.busyboxBase() + [
            OCIFixture.text("etc/gone", "lower\n"), OCIFixture.text("etc/kept", "kept\n"),
            OCIFixture.text("etc/passwd", "root:x:0:0::/root:/bin/sh\napp:x:1234:2345::/home/app:/bin/sh\n"),
            OCIFixture.text("etc/group", "root:x:0:\napp:x:2345:\nstaff:x:50:\n"),
            .directory("opq/"), OCIFixture.text("opq/a", "a\n"), .directory("scratch/", mode: 0o1777),
        ]
    }

    @discardableResult
    static func layeredLayout(_ path: String, config: [String: Any]? = nil) throws -> String {
        let base = try baseLayer()
        let top: [OCIFixture.Entry] = [
            .directory("etc/"), OCIFixture.text("etc/.wh.gone", ""), OCIFixture.text("etc/added", "added\n"),
            .directory("opq/"), OCIFixture.text("opq/.wh..wh..opq", ""), OCIFixture.text("opq/b", "b\n"),
        ]
        var options = OCIFixture.Options()
        options.config = config ?? ["Env": ["GREETING=from-oci", "PATH=/bin"], "WorkingDir": "/etc", "User": "app",
                                    "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo $GREETING; pwd; ls /etc; ls /opq; id"]]
        return try OCIFixture.write(path, layers: [base, top], options)
    }

    func blobsAndLayers(_ home: TemporaryHome) -> [String] {
        FileSystem.list(home.paths.path(.imageBlobs)).map { "blob " + $0 } + FileSystem.list(home.paths.path(.imageLayers)).map { "layer " + $0 }
    }

    @Test func importedImageRunsOnItsLayersWithItsConfig() throws {
        let home = try TemporaryHome()
        let digest = try Self.layeredLayout(home.path + "/layout")
        // A built-in's name is refused: the built-in would come back at the next use.
        let reserved = try home.isolab(["image", "import", home.path + "/layout", "--name", "layered"])
        #expect(reserved.status == 2 && reserved.stderr.contains("name of a built-in image"), "\(reserved.stderr)")
        let imported = try home.isolab(["image", "import", home.path + "/layout", "--name", "fixture"])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains(digest) && imported.stdout.contains("2 layers"), "\(imported.stdout)")

        let run = try home.isolab(["container", "run", "--image", "fixture"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "from-oci")
        #expect(lines.contains("/etc"))
        // The whiteout hides the lower file; the opaque directory hides its lower content.
        #expect(lines.contains("added") && lines.contains("kept") && !lines.contains("gone"), "\(lines)")
        #expect(lines.contains("b") && !lines.contains("a"), "\(lines)")
        #expect(lines.last?.hasPrefix("uid=1234(app) gid=2345(app)") == true, "\(lines)")

        // A command after -- replaces Entrypoint and Cmd; its status is the command's.
        let status = try home.isolab(["container", "run", "--image", "fixture", "--", "/bin/sh", "-c", "echo w > /scratch/written; cat /scratch/written; exit 7"])
        #expect(status.status == 7 && status.stdout == "w\n", "\(status.stderr)")
        // The write went to that instance's upper layer, removed with it: the image is unchanged.
        let again = try home.isolab(["container", "run", "--image", "fixture", "--", "/bin/ls", "/scratch"])
        #expect(!again.stdout.contains("written"), "\(again.stdout)")
        #expect(FileSystem.list(home.paths.path(.containers)).isEmpty)

        // The agent is injected, not part of the image: it runs a workload, and the digest is unchanged.
        let agent = try home.isolab(["container", "run", "--image", "fixture", "--", "/.isolab-agent", "run", "noop"])
        #expect(agent.status == 0 && agent.stdout.contains("READY"), "\(agent.stdout) \(agent.stderr)")
        let inspect = try home.isolab(["image", "inspect", "fixture"])
        #expect(inspect.stdout.contains(digest))
    }

    @Test func twoContainersShareTheLowerLayers() throws {
        let home = try TemporaryHome()
        try Self.layeredLayout(home.path + "/layout")
        #expect(try home.isolab(["image", "import", home.path + "/layout", "--name", "fixture"]).status == 0)
        let record = try ImageStore(paths: home.paths).resolve("fixture")
        let base = try #require(record.manifest.oci?.layers.first)
        var onHost = stat()
        #expect(stat(home.paths.path(.imageLayers) + "/" + base.chainID.hex + "/bin/busybox", &onHost) == 0)
        var inodes: [String] = []
        for _ in 0..<2 {
            let output = try home.isolab(["container", "run", "--image", "fixture", "--", "/bin/stat", "-c", "%i", "/bin/busybox"])
            #expect(output.status == 0, "\(output.stderr)")
            inodes.append(output.stdout.trimmingWhitespace())
        }
        // Both instances read the one unpacked file: nothing is copied per instance.
        #expect(inodes == [String(onHost.st_ino), String(onHost.st_ino)], "\(inodes) vs \(onHost.st_ino)")
    }

    @Test func umociImageImportsRunsAndExportsWithTheSameDigest() throws {
        let home = try TemporaryHome()
        let umoci = try #require(HostCommand.which("umoci"), "scripts/setup-host --tests installs umoci")
        let skopeo = try #require(HostCommand.which("skopeo"), "scripts/setup-host --tests installs skopeo")
        let layout = home.path + "/umoci", bundle = home.path + "/bundle"
        func run(_ tool: String, _ arguments: [String]) throws -> HostCommand.Output {
            let output = try HostCommand.run(tool, arguments, timeout: 120)
            #expect(output.status == 0, "\(tool) \(arguments): \(output.stderr)")
            return output
        }
        _ = try run(umoci, ["init", "--layout", layout])
        _ = try run(umoci, ["new", "--image", layout + ":v1"])
        _ = try run(umoci, ["unpack", "--image", layout + ":v1", bundle])
        try FileSystem.createDirectory(bundle + "/rootfs/bin", mode: 0o755, parents: 0o755)
        try FileSystem.copyFile("/bin/busybox", to: bundle + "/rootfs/bin/busybox", mode: 0o755)
        symlink("busybox", bundle + "/rootfs/bin/sh")
        _ = try run(umoci, ["repack", "--image", layout + ":v1", bundle])
        _ = try run(umoci, ["config", "--image", layout + ":v1", "--config.cmd", "/bin/sh", "--config.cmd", "-c", "--config.cmd", "echo made by umoci"])
        let index = try JSONDecoder().decode(OCI.Index.self, from: Data(try FileSystem.readBytes(layout + "/index.json")))
        let digest = try #require(index.manifests.first { $0.refName == "v1" }?.digest)

        let imported = try home.isolab(["image", "import", layout + ":v1", "--name", "umoci"])
        #expect(imported.status == 0, "\(imported.stderr)")
        let ran = try home.isolab(["container", "run", "--image", "umoci"])
        #expect(ran.status == 0 && ran.stdout == "made by umoci\n", "\(ran.stdout) \(ran.stderr)")

        // Exported: skopeo and umoci read it, with the digest umoci made.
        let exported = home.path + "/exported"
        let export = try home.isolab(["image", "export", "umoci", exported])
        #expect(export.status == 0, "\(export.stderr)")
        let inspected = try run(skopeo, ["inspect", "oci:" + exported + ":umoci"])
        #expect(inspected.stdout.contains(digest.description), "\(inspected.stdout)")
        _ = try run(umoci, ["stat", "--image", exported + ":umoci"])
        _ = try run(skopeo, ["copy", "oci:" + exported + ":umoci", "oci:" + home.path + "/copied:c"])

        // The layout's tar imports to the same image; skopeo's docker save archive runs too.
        _ = try run("/bin/tar", ["-C", layout, "-cf", home.path + "/layout.tar", "."])
        let fromTar = try home.isolab(["image", "import", home.path + "/layout.tar:v1", "--name", "umoci-tar"])
        #expect(fromTar.status == 0 && fromTar.stdout.contains("already stored") && fromTar.stdout.contains(digest.description), "\(fromTar.stdout) \(fromTar.stderr)")
        _ = try run(skopeo, ["copy", "oci:" + layout + ":v1", "docker-archive:" + home.path + "/docker.tar:lab/app:v1"])
        let docker = try home.isolab(["image", "import", home.path + "/docker.tar", "--name", "docker"])
        #expect(docker.status == 0, "\(docker.stderr)")
        let dockerRun = try home.isolab(["container", "run", "--image", "docker"])
        #expect(dockerRun.stdout == "made by umoci\n", "\(dockerRun.stdout) \(dockerRun.stderr)")
        #expect(FileSystem.list(home.paths.path(.imageTemp)).isEmpty)
    }

    @Test func removedImagesLeaveBlobsThatGCRemovesButSharedOnesStay() throws {
        let home = try TemporaryHome()
        try Self.layeredLayout(home.path + "/a")
        var options = OCIFixture.Options()
        options.ref = "b"
        try OCIFixture.write(home.path + "/b", layers: [try Self.baseLayer()], options)
        #expect(try home.isolab(["image", "import", home.path + "/a", "--name", "a"]).status == 0)
        let second = try home.isolab(["image", "import", home.path + "/b"])
        // The same base layer: stored once.
        #expect(second.status == 0 && second.stdout.contains("1 already stored"), "\(second.stdout) \(second.stderr)")
        #expect(FileSystem.list(home.paths.path(.imageLayers)).count == 2)
        #expect(try home.isolab(["image", "rm", "a"]).status == 0)
        let gc = try home.isolab(["gc"])
        #expect(gc.status == 0 || gc.stderr.contains("libvirt"), "\(gc.stderr)")
        // a's manifest, config and top layer go; b's three blobs and its one layer stay.
        #expect(FileSystem.list(home.paths.path(.imageBlobs)).count == 3, "\(blobsAndLayers(home))")
        #expect(FileSystem.list(home.paths.path(.imageLayers)).count == 1, "\(blobsAndLayers(home))")
        #expect(try home.isolab(["container", "run", "--image", "b", "--", "/bin/cat", "/etc/kept"]).stdout == "kept\n")
    }

    /// Each bad input: one line naming it, exit 2, the store as it was.
    @Test(arguments: BadLayout.allCases)
    func badInputIsRefusedAndLeavesTheStoreAsItWas(_ bad: BadLayout) throws {
        let home = try TemporaryHome()
        let outside = home.path + "/outside"
        try FileSystem.makeDirectory(outside, mode: 0o755)
        try bad.write(home.path + "/layout", outside: outside)
        let output = try home.isolab(["image", "import", home.path + "/layout", "--name", "bad"])
        #expect(output.status == 2, "\(bad): \(output.stdout) \(output.stderr)")
        #expect(output.stderr.split(separator: "\n").count == 1 && output.stderr.contains(bad.expected), "\(bad): \(output.stderr)")
        #expect(blobsAndLayers(home).isEmpty, "\(bad): \(blobsAndLayers(home))")
        #expect(FileSystem.list(outside).isEmpty, "\(bad) wrote outside the layer: \(FileSystem.list(outside))")
        #expect(ImageStore(paths: home.paths).list().isEmpty)
    }

    enum BadLayout: String, CaseIterable, CustomTestStringConvertible {
        case tamperedBlob, otherArchitecture, climbingName, absoluteName, hardLinkOut, hardLinkThroughSymlink, throughSymlink, sizeOverBound,
             truncatedLayer, notGzip, unknownMediaType, wrongDiffID, severalImagesNoRef

        var testDescription: String { rawValue }

        var expected: String {
            switch self {
            case .tamperedBlob: "does not match its digest"
            case .otherArchitecture: "is an image for linux/arm64"
            case .climbingName: "climbs out of the layer"
            case .absoluteName: "is an absolute path"
            case .hardLinkOut: "climbs out of the layer"
            case .hardLinkThroughSymlink: "cannot unpack etc/link"
            case .throughSymlink: "cannot unpack etc/evil"
            case .sizeOverBound: "above the bound"
            case .truncatedLayer: "truncated or corrupt"
            case .notGzip: "declared gzip"
            case .unknownMediaType: "unknown media type application/x-unknown"
            case .wrongDiffID: "is not the config's diff_id"
            case .severalImagesNoRef: "holds 2 images; name one as PATH:REF"
            }
        }

        func write(_ path: String, outside: String) throws {
            var options = OCIFixture.Options()
            var layer: [OCIFixture.Entry] = [.directory("etc/"), OCIFixture.text("etc/file", "content\n")]
            switch self {
            case .tamperedBlob: options.tamper = { $0[$0.count / 2] ^= 0xFF }
            case .otherArchitecture: options.architecture = "arm64"
            case .climbingName: layer.append(OCIFixture.text("etc/../../evil", "x"))
            case .absoluteName: layer.append(OCIFixture.text("/evil", "x"))
            case .hardLinkOut: layer.append(.hardlink("etc/link", target: "../../etc/passwd"))
            // A link whose target is reached through a symlink to the host's /etc: no host file may enter the layer.
            case .hardLinkThroughSymlink: layer = [.symlink("host", target: "/etc"), .directory("etc/"), .hardlink("etc/link", target: "host/hostname")]
            case .throughSymlink: layer = [.symlink("etc", target: outside), OCIFixture.text("etc/evil", "x")]
            case .sizeOverBound: options.declaredLayerSize = 17 << 30
            case .truncatedLayer: options.gzip = true
            case .notGzip:
                options.gzip = false
                options.layerMediaType = OCI.MediaType.layerGzip
            case .unknownMediaType: options.layerMediaType = "application/x-unknown"
            case .wrongDiffID: options.diffIDs = ["sha256:" + String(repeating: "0", count: 64)]
            case .severalImagesNoRef: break
            }
            if self == .truncatedLayer {
                // A gzip stream cut short, its digest that of the cut bytes.
                try OCIFixture.write(path, layers: [layer], options)
                let manifestPath = try Self.only(path + "/blobs/sha256") { (try? FileSystem.readText($0))?.contains("layer.v1.tar+gzip") == true }
                var manifest = try JSONSerialization.jsonObject(with: Data(try FileSystem.readBytes(manifestPath))) as! [String: Any]
                var layers = manifest["layers"] as! [[String: Any]]
                let old = String((layers[0]["digest"] as! String).dropFirst(7))
                let cut = Array(try FileSystem.readBytes(path + "/blobs/sha256/" + old).dropLast(40))
                let digest = OCIFixture.digest(cut)
                try FileSystem.writeAtomically(path + "/blobs/sha256/" + digest.dropFirst(7), bytes: cut)
                layers[0]["digest"] = digest
                layers[0]["size"] = cut.count
                manifest["layers"] = layers
                let bytes = OCIFixture.json(manifest)
                let manifestDigest = OCIFixture.digest(bytes)
                try FileSystem.writeAtomically(path + "/blobs/sha256/" + manifestDigest.dropFirst(7), bytes: bytes)
                try FileSystem.writeAtomically(path + "/index.json", bytes: OCIFixture.json([
                    "schemaVersion": 2, "manifests": [["mediaType": OCI.MediaType.manifest, "digest": manifestDigest, "size": bytes.count]]]))
                return
            }
            try OCIFixture.write(path, layers: [layer], options)
            if self == .severalImagesNoRef {
                var index = try JSONSerialization.jsonObject(with: Data(try FileSystem.readBytes(path + "/index.json"))) as! [String: Any]
                var manifests = index["manifests"] as! [[String: Any]]
                var copy = manifests[0]
                copy["annotations"] = [OCI.Descriptor.refName: "v2"]
                manifests.append(copy)
                index["manifests"] = manifests
                try FileSystem.writeAtomically(path + "/index.json", bytes: OCIFixture.json(index))
            }
        }

        static func only(_ directory: String, where match: (String) -> Bool) throws -> String {
            let found = FileSystem.list(directory).map { directory + "/" + $0 }.filter(match)
            guard found.count == 1 else { throw LabError(.failed, "expected one match in \(directory), found \(found.count)") }
            return found[0]
        }
    }

    /// What a layer may hold and the lab does not refuse: device nodes are
    /// skipped with a warning; absolute symlinks are stored as they are.
    @Test func devicesAreSkippedAndAbsoluteSymlinksKept() throws {
        let home = try TemporaryHome()
        try OCIFixture.write(home.path + "/layout", layers: [try OCIFixture.busyboxBase() + [
            .characterDevice("dev-node"), .directory("lib64/"), .symlink("lib64/sh", target: "/bin/busybox"),
        ]])
        let output = try home.isolab(["image", "import", home.path + "/layout", "--name", "devices"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stderr.contains("skipped dev-node"), "\(output.stderr)")
        let record = try ImageStore(paths: home.paths).resolve("devices")
        let layer = home.paths.path(.imageLayers) + "/" + (record.manifest.oci?.layers[0].chainID.hex ?? "")
        #expect(FileSystem.readLink(layer + "/lib64/sh") == "/bin/busybox")
        #expect(!FileSystem.exists(layer + "/dev-node"))
        // The absolute link resolves inside the container's root.
        let run = try home.isolab(["container", "run", "--image", "devices", "--", "/lib64/sh", "-c", "echo through the link"])
        #expect(run.stdout == "through the link\n", "\(run.stderr)")
    }

    @Test func interruptedImportLeavesNothingThatGCDoesNotRemove() throws {
        let home = try TemporaryHome()
        var big = [UInt8](repeating: 0, count: 160 << 20)
        for i in stride(from: 0, to: big.count, by: 4096) { big[i] = UInt8(truncatingIfNeeded: i >> 12) }
        var options = OCIFixture.Options()
        options.gzip = false
        try OCIFixture.write(home.path + "/layout", layers: [[.file("big", big)]], options)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try isolabExecutable())
        process.arguments = ["image", "import", home.path + "/layout", "--name", "big"]
        process.environment = ["ISOLAB_HOME": home.path]
        try process.run()
        // Interrupted while the layer is on its way into the store.
        let temp = home.paths.path(.imageTemp), blobs = home.paths.path(.imageBlobs), layers = home.paths.path(.imageLayers)
        for _ in 0..<2000 where process.isRunning {
            if FileSystem.list(blobs).contains(where: { $0.hasPrefix(".in-") }) || FileSystem.list(layers).contains(where: { $0.hasPrefix(".unpack-") }) { break }
            usleep(5000)
        }
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "the import was not interrupted: \(process.terminationStatus)")
        #expect(ImageStore(paths: home.paths).list().isEmpty)
        #expect(FileSystem.list(temp).isEmpty, "\(FileSystem.list(temp))")
        let gc = try home.isolab(["gc"])
        #expect(gc.status == 0 || gc.stderr.contains("libvirt"), "\(gc.stderr)")
        #expect(blobsAndLayers(home).isEmpty, "\(blobsAndLayers(home))")
    }
}

/// The same OCI image as a VM: its layers as one ext4 disk (made once),
/// booted with the lab's kernel and agent, a qcow2 overlay per guest.
@Suite("Integration (root, libvirt, TCG here): OCI images as VMs", .needsRoot, .needsLibvirt, .needsQEMU, .serialized)
struct OCIGuestIntegrationTests {
    /// The lab's own mount points and files, which differ by design: the
    /// container's API mounts and injected agent, the guest's lost+found.
    static let labMade: Set<String> = ["/proc", "/sys", "/dev", "/tmp", "/run", "/.isolab-agent", "/lost+found"]

    func tree(_ output: HostCommand.Output) -> [String] {
        output.stdout.split(separator: "\n").map(String.init).filter { !Self.labMade.contains($0) }
    }

    @Test func theSameTreeInAContainerAndInAVM() throws {
        let home = try TemporaryHome(kernels: true)
        try OCIIntegrationTests.layeredLayout(home.path + "/layout")
        #expect(try home.isolab(["image", "import", home.path + "/layout", "--name", "fixture"]).status == 0)
        let list = ["/bin/sh", "-c", "find / -xdev 2>/dev/null | sort; id"]
        let container = try home.isolab(["container", "run", "--image", "fixture", "--"] + list)
        #expect(container.status == 0, "\(container.stderr)")
        let vm = try home.isolab(["vm", "run", "--accel", "tcg", "--image", "fixture", "--"] + list, timeout: 600)
        #expect(vm.status == 0, "\(vm.stderr)")
        // Whiteout and opaque directory applied the same way; the image's user in both.
        #expect(tree(vm) == tree(container), "container: \(tree(container))\nvm: \(tree(vm))")
        #expect(tree(vm).contains("/etc/added") && !tree(vm).contains("/etc/gone") && !tree(vm).contains("/opq/a"), "\(tree(vm))")
        #expect(vm.stdout.contains("uid=1234(app) gid=2345(app)"), "\(vm.stdout)")
        // Only the command's output: no protocol line.
        #expect(!vm.stdout.contains("ISOLAB"), "\(vm.stdout)")

        // The disk is made once per image, beside its record; the guest's writes go to its own overlay.
        let record = try ImageStore(paths: home.paths).resolve("fixture")
        #expect(FileSystem.exists(record.directory + "/" + OCIDisk.fileName))
        let status = try home.isolab(["vm", "run", "--accel", "tcg", "--image", "fixture", "--", "/bin/sh", "-c", "echo x > /scratch/w; exit 5"], timeout: 600)
        #expect(status.status == 5, "\(status.stderr)")
        let again = try home.isolab(["vm", "run", "--accel", "tcg", "--image", "fixture", "--", "/bin/ls", "/scratch"], timeout: 600)
        #expect(again.status == 0 && again.stdout.isEmpty, "\(again.stdout) \(again.stderr)")
        #expect(FileSystem.list(home.paths.path(.vms)).isEmpty)

        // A program the image does not have: the guest says so, exit 127.
        let missing = try home.isolab(["vm", "run", "--accel", "tcg", "--image", "fixture", "--", "/bin/nothing-here"], timeout: 600)
        #expect(missing.status == 127 && missing.stderr.contains("exec /bin/nothing-here"), "\(missing.status) \(missing.stderr)")
    }

    /// Workloads run through the agent in the image's root.
    @Test func agentWorkloadsRunInTheImagesRoot() throws {
        let home = try TemporaryHome(kernels: true)
        try OCIIntegrationTests.layeredLayout(home.path + "/layout")
        #expect(try home.isolab(["image", "import", home.path + "/layout", "--name", "fixture"]).status == 0)
        let output = try home.isolab(["vm", "run", "--accel", "tcg", "--image", "fixture", "--", "syscall", "--count", "1000"], timeout: 600)
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("RESULT") && output.stdout.contains("DONE exit=0"), "\(output.stdout)")
    }
}

extension OCIGuestIntegrationTests {
    /// A scenario names an imported OCI image: the lab's container and VM
    /// run it (the agent injected, the disk made once), the bare baseline
    /// runs the lab's agent, and a peer is skipped with its reason.
    @Test func aScenarioRunsAnImportedImage() throws {
        let home = try TemporaryHome(kernels: true)
        try OCIIntegrationTests.layeredLayout(home.path + "/layout")
        #expect(try home.isolab(["image", "import", home.path + "/layout", "--name", "fixture"]).status == 0)
        let scenario = home.path + "/oci.yaml"
        try FileSystem.writeAtomically(scenario, text: """
            name: oci
            image: fixture
            backends: [bare, container, vm, runc]
            workloads: [{name: idle, params: {seconds: 0.2}}]
            repetitions: 1
            warmup: 0
            vm: {accel: tcg, memory: 256M}
            checks: []

            """)
        let run = try home.isolab(["run", scenario, "--out", home.path + "/out"], timeout: 900)
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        let results = try RunResults.load(file: home.path + "/out/results.json")
        #expect(results.trials.count == 3 && results.trials.allSatisfy { $0.error == nil }, "\(results.trials.map { "\($0.backend): \($0.error ?? "ok")" })")
        #expect(results.environment.imageDigest == (try ImageStore(paths: home.paths).resolve("fixture")).manifest.digest)
        #expect(results.environment.skippedPeers?["runc"]?.contains("imported OCI image") == true, "\(results.environment.skippedPeers ?? [:])")
        // Per instance: the container's upper layer and the guest's qcow2 overlay, each measured.
        for backend in [BackendKind.container, .vm] {
            let trial = try #require(results.trials.first { $0.backend == backend })
            #expect(trial.samples.contains { $0.metric == "disk_instance" && $0.value > 0 }, "\(backend)")
        }
    }
}

/// The OCI images the lab makes itself, and a built image in OCI form.
@Suite("Integration (root, this host): OCI images the lab makes", .needsRoot)
struct BuiltinOCIIntegrationTests {
    @Test func aBuiltImageExportsWithoutTheAgentAndSkopeoAndUmociReadIt() throws {
        let home = try TemporaryHome()
        let skopeo = try #require(HostCommand.which("skopeo"), "scripts/setup-host --tests installs skopeo")
        let umoci = try #require(HostCommand.which("umoci"), "scripts/setup-host --tests installs umoci")
        #expect(try home.isolab(["image", "build", "--builtin", "busybox"]).status == 0)
        let first = try home.isolab(["image", "export", "busybox", home.path + "/a"])
        #expect(first.status == 0, "\(first.stderr)")
        // Reproducible: exported again (its OCI form remembered, or made anew in another home), the same digest.
        let again = try home.isolab(["image", "export", "busybox", home.path + "/b"])
        #expect(try FileSystem.readText(home.path + "/a/index.json") == FileSystem.readText(home.path + "/b/index.json"))
        #expect(again.status == 0)
        let other = try TemporaryHome()
        #expect(try other.isolab(["image", "build", "--builtin", "busybox"]).status == 0)
        #expect(try other.isolab(["image", "export", "busybox", other.path + "/c"]).status == 0)
        #expect(try FileSystem.readText(home.path + "/a/index.json") == FileSystem.readText(other.path + "/c/index.json"))

        let inspected = try HostCommand.run(skopeo, ["inspect", "oci:" + home.path + "/a:busybox"], timeout: 60)
        #expect(inspected.status == 0, "\(inspected.stderr)")
        let unpacked = home.path + "/bundle"
        let unpack = try HostCommand.run(umoci, ["unpack", "--image", home.path + "/a:busybox", unpacked], timeout: 120)
        #expect(unpack.status == 0, "\(unpack.stderr)")
        // The agent is no part of the export; the image's own files are.
        #expect(FileSystem.exists(unpacked + "/rootfs/bin/busybox"))
        #expect(!FileSystem.exists(unpacked + "/rootfs/sbin/isolab-agent") && FileSystem.readLink(unpacked + "/rootfs/init") == nil)
        // And it runs again as an OCI image, the agent injected.
        #expect(try home.isolab(["image", "import", home.path + "/a:busybox", "--name", "again"]).status == 0)
        let run = try home.isolab(["container", "run", "--image", "again", "--", "/.isolab-agent", "run", "noop"])
        #expect(run.status == 0 && run.stdout.contains("DONE exit=0"), "\(run.stdout) \(run.stderr)")
    }

    @Test func theLayeredImageHidesWhatItsTopLayerRemoves() throws {
        let home = try TemporaryHome()
        let built = try home.isolab(["image", "build", "--builtin", "layered"])
        #expect(built.status == 0 && built.stdout.contains("3 layers"), "\(built.stdout) \(built.stderr)")
        let run = try home.isolab(["container", "run", "--image", "layered", "--", "/bin/sh", "-c", "find /srv | sort"])
        #expect(run.stdout == "/srv\n/srv/data\n/srv/data/b\n/srv/data/c\n/srv/old\n/srv/old/y\n", "\(run.stdout) \(run.stderr)")
        // Its first layer is busybox-oci's: stored once, shared.
        #expect(try home.isolab(["image", "build", "--builtin", "busybox-oci"]).status == 0)
        let list = try home.isolab(["image", "ls"])
        #expect(list.stdout.contains("3 (1 shared)") && list.stdout.contains("1 (1 shared)"), "\(list.stdout)")
    }

    /// `images:` runs the scenario once per image and sets them side by side.
    @Test func aScenarioComparesImages() throws {
        let home = try TemporaryHome()
        let scenario = home.path + "/images.yaml"
        try FileSystem.writeAtomically(scenario, text: """
            name: images-test
            images: [busybox, layered]
            backends: [container]
            workloads: [{name: idle, params: {seconds: 0.1}}]
            repetitions: 4
            warmup: 0
            checks: []

            """)
        let out = home.path + "/out"
        let run = try home.isolab(["run", scenario, "--out", out], timeout: 600)
        #expect(run.status == 0, "\(run.stderr.suffix(2000))")
        for image in ["busybox", "layered"] {
            #expect(FileSystem.exists(out + "/" + image + "/results.json") && FileSystem.exists(out + "/" + image + "/report.html"))
        }
        let comparison = try JSONDecoder().decode(ImageComparison.self, from: Data(try FileSystem.readBytes(out + "/images.json")))
        #expect(comparison.rows.map(\.image) == ["busybox", "layered"] && comparison.rows.allSatisfy { $0.trials == 4 && $0.readyMs != nil })
        let html = try FileSystem.readText(out + "/images.html")
        #expect(html.contains("href=\"layered/report.html\"") && !html.contains("http"))
        #expect(try FileSystem.readText(out + "/images.csv").split(separator: "\n").count == 3)
        #expect(run.stdout.contains("images compared:"))
    }
}
