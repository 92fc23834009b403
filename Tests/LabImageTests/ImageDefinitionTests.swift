import LabCore
import LabModel
import Testing

@testable import LabImage

func expectInvalid(_ yaml: String, contains expected: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        _ = try StrictYAML.decode(ImageDefinition.self, from: yaml, file: "image.yaml")
        Issue.record("accepted: \(yaml)", sourceLocation: sourceLocation)
    } catch let error as LabError {
        #expect(error.code == .invalidInput, sourceLocation: sourceLocation)
        #expect(!error.message.contains("\n"), "not one line: \(error.message)", sourceLocation: sourceLocation)
        for text in expected {
            #expect(error.message.contains(text), "'\(error.message)' lacks '\(text)'", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}

@Suite("image definitions (YAML)")
struct ImageDefinitionTests {
    @Test func fullDefinitionParses() throws {
        let yaml = """
            name: redis-lab
            base: empty
            agent: false
            binaries: [/usr/bin/redis-server]
            files:
              - {path: /etc/redis.conf, content: "port 6379\\n", mode: "0600"}
              - {path: /etc/app, source: /etc/hostname, mode: 0755}
              - {path: /bin/sh, link: busybox}
            env: {REDIS_PORT: "6379"}
            workdir: /data
            entrypoint: [/usr/bin/redis-server, /etc/redis.conf]
            gzip: true
            """
        let definition = try StrictYAML.decode(ImageDefinition.self, from: yaml, file: "x.yaml")
        #expect(definition.name == "redis-lab" && definition.base == .empty && !definition.agent && definition.gzip)
        #expect(definition.binaries == ["/usr/bin/redis-server"])
        #expect(definition.files[0].mode == 0o600 && definition.files[0].content == "port 6379\n")
        #expect(definition.files[1].mode == 0o755)
        #expect(definition.files[2].link == "busybox")
        #expect(definition.env == ["REDIS_PORT": "6379"])
        #expect(definition.entrypoint == ["/usr/bin/redis-server", "/etc/redis.conf"])
    }

    @Test func defaultsAreTheBuiltInShape() throws {
        let definition = try StrictYAML.decode(ImageDefinition.self, from: "name: mini\n", file: "x.yaml")
        #expect(definition == ImageDefinition(name: "mini"))
        #expect(definition.base == .busybox && definition.agent && definition.workdir == "/")
    }

    @Test func unknownKeyNamesTheFieldTheLineAndTheAcceptedKeys() {
        expectInvalid("name: a\nbase: busybox\nbinarys: [/bin/ls]\n", contains: ["image.yaml:3:", "binarys", "accepted: name, base"])
        expectInvalid("name: a\nfiles:\n  - path: /x\n    contnet: y\n", contains: ["image.yaml:4:", "files[0].contnet", "unknown key"])
    }

    @Test func unknownBaseListsTheAcceptedOnes() {
        expectInvalid("name: a\nbase: alpine\n", contains: ["image.yaml:2:", "base", "'alpine'", "accepted: busybox, empty"])
    }

    @Test func malformedYAMLGivesTheLine() {
        expectInvalid("name: a\nfiles: [\n  {path: /x\n", contains: ["image.yaml", "line", "malformed YAML"])
        expectInvalid("- just\n- a list\n", contains: ["must be a mapping"])
        expectInvalid("", contains: ["empty"])
    }

    @Test func badValuesAreNamed() {
        expectInvalid("base: empty\n", contains: ["missing required field 'name'"])
        expectInvalid("name: Bad/Name\n", contains: ["name", "is not an image name"])
        expectInvalid("name: a\nfiles:\n  - {path: /x, content: a, source: /etc/hostname}\n", contains: ["files[0]", "exactly one of"])
        expectInvalid("name: a\nfiles:\n  - {path: /x, content: a, mode: \"0999\"}\n", contains: ["files[0].mode", "octal"])
        expectInvalid("name: a\nenv: {1BAD: x}\n", contains: ["env", "not an environment variable name"])
        expectInvalid("name: a\nworkdir: data\n", contains: ["workdir", "absolute"])
        expectInvalid("name: a\nagent: maybe\n", contains: ["agent", "true or false"])
    }
}

@Suite("image plan: paths and links")
struct ImagePlanTests {
    @Test func pathsOutsideTheRootAreRefused() {
        var plan = ImagePlan()
        #expect(throws: LabError.self) { try plan.add("/../etc/passwd", .directory, mode: 0o755, origin: "files[0]") }
        #expect(throws: LabError.self) { try plan.add("/", .directory, mode: 0o755, origin: "files[0]") }
        #expect(throws: LabError.self) { try plan.add("/a/../../b", .directory, mode: 0o755, origin: "files[0]") }
    }

    @Test func duplicateUserPathsAreRefusedButUserFilesOverrideTheBase() throws {
        var plan = ImagePlan()
        try plan.add("/etc/passwd", .file(.bytes([1])), mode: 0o644, origin: "base busybox")
        try plan.add("/etc/passwd", .file(.bytes([2])), mode: 0o600, origin: "files[0]", fromUser: true)
        #expect(plan.entries["etc/passwd"]?.kind == .file(.bytes([2])))
        do {
            try plan.add("/etc/passwd", .file(.bytes([3])), mode: 0o600, origin: "files[1]", fromUser: true)
            Issue.record("duplicate accepted")
        } catch let error as LabError {
            #expect(error.message == "files[1]: duplicate path /etc/passwd, also given by files[0]")
        }
    }

    @Test func aPathThroughAFileOrLinkIsRefused() throws {
        var plan = ImagePlan()
        try plan.add("/bin/sh", .symlink("busybox"), mode: 0o777, origin: "base busybox")
        #expect(throws: LabError.self) { try plan.add("/bin/sh/x", .file(.bytes([])), mode: 0o644, origin: "files[0]") }
    }

    @Test func linksMustStayInsideTheImage() throws {
        var ok = ImagePlan()
        try ok.add("/bin/busybox", .file(.bytes([])), mode: 0o755, origin: "base")
        try ok.add("/usr/bin/awk", .symlink("../../bin/busybox"), mode: 0o777, origin: "base")
        try ok.add("/sbin/sh", .symlink("/bin/busybox"), mode: 0o777, origin: "files[0]")
        try ok.validateLinks()

        var escape = ImagePlan()
        try escape.add("/etc/x", .symlink("../../etc/shadow"), mode: 0o777, origin: "files[0]")
        #expect(throws: LabError.self) { try escape.validateLinks() }

        var absolute = ImagePlan()
        try absolute.add("/etc/x", .symlink("/etc/shadow"), mode: 0o777, origin: "files[0]")
        do {
            try absolute.validateLinks()
            Issue.record("absolute link out accepted")
        } catch let error as LabError {
            #expect(error.message.contains("points outside the image"))
        }
    }

    @Test func entriesComeParentsFirstInByteOrder() throws {
        var plan = ImagePlan()
        try plan.add("/a/b/c", .file(.bytes([])), mode: 0o644, origin: "x")
        try plan.add("/a-b", .file(.bytes([])), mode: 0o644, origin: "x")
        try plan.add("/a.b", .file(.bytes([])), mode: 0o644, origin: "x")
        #expect(plan.sorted.map(\.path) == ["a", "a-b", "a.b", "a/b", "a/b/c"])
    }
}

@Suite("ELF library closure (reads host files, runs nothing)")
struct LibraryClosureTests {
    @Test func dynamicLsNeedsLibcAndTheLoader() throws {
        let elf = try ElfFile(path: "/bin/ls")
        #expect(elf.interpreter == "/lib64/ld-linux-x86-64.so.2")
        #expect(elf.needed.contains("libc.so.6"))
        let files = try LibraryClosure.host().resolve("/bin/ls")
        let paths = files.map(\.imagePath)
        #expect(paths.first == "/bin/ls")
        #expect(paths.contains("/lib64/ld-linux-x86-64.so.2"))
        #expect(paths.contains { $0.hasSuffix("/libc.so.6") })
        // /bin/ls needs libselinux, which needs libpcre2: the closure is transitive.
        #expect(paths.contains { $0.contains("libpcre2-8.so") })
        #expect(files.allSatisfy { FileSystem.exists($0.hostPath) })
    }

    @Test func staticBusyboxNeedsNothing() throws {
        #expect(try ElfFile(path: "/bin/busybox").isStatic)
        #expect(try LibraryClosure.host().resolve("/bin/busybox").count == 1)
    }

    @Test func missingOrNonELFBinariesAreClearErrors() {
        #expect(throws: LabError.self) { try LibraryClosure.host().resolve("/nonexistent/bin") }
        do {
            _ = try LibraryClosure.host().resolve("/etc/hostname")
            Issue.record("a text file was accepted")
        } catch let error as LabError {
            #expect(error.message.contains("not an ELF executable"))
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func ldSoConfIncludesAreFollowed() {
        let closure = LibraryClosure.host()
        #expect(closure.searchDirectories.contains("/usr/lib/x86_64-linux-gnu"))
        #expect(Set(closure.searchDirectories).count == closure.searchDirectories.count)
    }
}
