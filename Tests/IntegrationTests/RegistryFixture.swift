import Foundation
import LabCore
import LabModel

/// A real registry for the tests: Debian's `docker-registry` (the
/// distribution project's own server) on a free port of 127.0.0.1, its
/// storage in a temporary directory, with no authentication, htpasswd
/// Basic, or bearer tokens from a small token service the test starts
/// (RS256 JWTs signed by openssl). Stopped, and its files removed, when
/// the fixture goes. Beside it, when asked, a fault proxy that breaks or
/// stalls blob downloads on purpose.
final class RegistryFixture {
    enum Auth { case none, basic, token }
    static let user = "lab"
    static let password = "s3cret"

    let directory: String
    let port: Int
    var host: String { "127.0.0.1:\(port)" }
    private var processes: [Process] = []

    static var executable: String? { HostCommand.which("docker-registry") }

    init(auth: Auth = .none, storage: String? = nil) throws {
        var template = Array("/tmp/isolab-registry-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw LabError.syscall("mkdtemp") }
        directory = String(cString: dir)
        port = try Self.freePort()
        var authSection = ""
        switch auth {
        case .none: break
        case .basic:
            let hash = try Self.check("/usr/bin/python3", ["-W", "ignore", "-c",
                "import crypt;print(crypt.crypt('\(Self.password)',crypt.mksalt(crypt.METHOD_BLOWFISH,rounds=1<<5)))"]).trimmingWhitespace()
            try FileSystem.writeAtomically(directory + "/htpasswd", text: "\(Self.user):\(hash)\n")
            authSection = "auth:\n  htpasswd:\n    realm: isolab-test\n    path: \(directory)/htpasswd\n"
        case .token:
            _ = try Self.check("/usr/bin/openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/token.key",
                                                    "-out", directory + "/token.crt", "-days", "2", "-subj", "/CN=isolab-token"])
            let tokenPort = try Self.freePort()
            try FileSystem.writeAtomically(directory + "/token.py", text: Self.tokenServer)
            try start("/usr/bin/python3", [directory + "/token.py", String(tokenPort), directory, Self.user, Self.password], log: "token.log")
            try waitForPort(tokenPort)
            authSection = """
                auth:
                  token:
                    realm: http://127.0.0.1:\(tokenPort)/token
                    service: isolab-registry
                    issuer: isolab-test-issuer
                    rootcertbundle: \(directory)/token.crt

                """
        }
        let root = storage ?? directory + "/data"
        try FileSystem.writeAtomically(directory + "/config.yml", text: """
            version: 0.1
            log:
              level: warn
              accesslog:
                disabled: true
            storage:
              filesystem:
                rootdirectory: \(root)
              delete:
                enabled: true
            http:
              addr: 127.0.0.1:\(port)
              secret: isolab-test-secret
            \(authSection)
            """)
        guard let executable = Self.executable else { throw LabError(.unsupported, "docker-registry is not installed (scripts/setup-host --tests)") }
        try start(executable, ["serve", directory + "/config.yml"], log: "registry.log")
        try waitForPort(port)
    }

    deinit {
        // SIGKILL: a child of the test process may inherit a mask that
        // blocks SIGTERM (seen: python's token service never ended).
        for process in processes where process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? FileSystem.removeTree(directory)
    }

    var storageRoot: String { directory + "/data" }

    /// The file the registry keeps a blob's bytes in.
    func blobData(_ digest: String) -> String {
        let hex = String(digest.dropFirst(7))
        return storageRoot + "/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    /// An auth file for this registry, mode 0600 (or `mode`).
    func authFile(password: String = RegistryFixture.password, mode: mode_t = 0o600) throws -> String {
        let path = directory + "/auth-\(UUID().uuidString).json"
        let auth = Data("\(Self.user):\(password)".utf8).base64EncodedString()
        try FileSystem.writeAtomically(path, text: #"{"auths": {"\#(host)": {"auth": "\#(auth)"}}}"#)
        chmod(path, mode)
        return path
    }

    /// A proxy in front of the registry: `drop` sends half of the first
    /// whole-blob answer and closes the connection; `stall` sends half of
    /// every blob and then waits. It logs each request's path and Range.
    func proxy(_ mode: String) throws -> (port: Int, log: String) {
        let proxyPort = try Self.freePort()
        let script = directory + "/proxy.py"
        try FileSystem.writeAtomically(script, text: Self.faultProxy)
        let log = directory + "/proxy-\(proxyPort).log"
        try start("/usr/bin/python3", [script, String(proxyPort), String(port), mode, log], log: "proxy-\(proxyPort).out")
        try waitForPort(proxyPort)
        return (proxyPort, log)
    }

    func start(_ executable: String, _ arguments: [String], log: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = FileHandle(forWritingAtPath: directory + "/" + log) ?? {
            FileManager.default.createFile(atPath: directory + "/" + log, contents: nil)
            return FileHandle(forWritingAtPath: directory + "/" + log)!
        }()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        processes.append(process)
    }

    func waitForPort(_ port: Int) throws {
        for _ in 0..<200 {
            if let output = try? HostCommand.run("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/v2/"], timeout: 5),
               output.stdout != "000" { return }
            usleep(50_000)
        }
        let logs = FileSystem.list(directory).filter { $0.hasSuffix(".log") || $0.hasSuffix(".out") }
            .map { "\($0): " + (FileSystem.readTextIfPresent(directory + "/" + $0) ?? "") }.joined(separator: "\n")
        throw LabError(.failed, "nothing answers on 127.0.0.1:\(port) after 10 s\n\(logs)")
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw LabError.syscall("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw LabError.syscall("bind") }
        let named = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        guard named == 0 else { throw LabError.syscall("getsockname") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @discardableResult
    static func check(_ executable: String, _ arguments: [String], timeout: Double = 120) throws -> String {
        let output = try HostCommand.run(executable, arguments, timeout: timeout)
        guard output.status == 0 else { throw LabError(.failed, "\(executable) \(arguments.joined(separator: " ")): \(output.stderr)") }
        return output.stdout
    }

    /// A token service (docs/spec/auth/token.md of the distribution project):
    /// Basic credentials checked, the scopes asked for granted, an RS256 JWT
    /// whose x5c is the certificate the registry trusts.
    static let tokenServer = #"""
    base64, http, json, subprocess, sys, time, urllib, uuid = map(__import__, ["base64", "http.server", "json", "subprocess", "sys", "time", "urllib.parse", "uuid"])
    port, directory, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    der = subprocess.run(["openssl", "x509", "-in", directory + "/token.crt", "-outform", "DER"], capture_output=True, check=True).stdout
    def b64url(data): return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args): pass
        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401); self.send_header("Content-Length", "0"); self.end_headers(); return
            access = []
            for scope in query.get("scope", []):
                kind, name, actions = scope.split(":")[0], ":".join(scope.split(":")[1:-1]), scope.split(":")[-1]
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
            claims = {"iss": "isolab-test-issuer", "sub": user, "aud": query.get("service", [""])[0], "exp": now + 300,
                      "nbf": now - 10, "iat": now, "jti": str(uuid.uuid4()), "access": access}
            signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
            signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", directory + "/token.key"], input=signing.encode(),
                                       capture_output=True, check=True).stdout
            body = json.dumps({"token": signing + "." + b64url(signature), "expires_in": 300}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """#

    /// Forwards to the registry; breaks (drop) or stalls (stall) blob bodies half-way.
    static let faultProxy = #"""
    http, sys, threading, time = map(__import__, ["http.client", "sys", "threading", "time"]); __import__("http.server")
    port, upstream, mode, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    lock = threading.Lock(); state = {"dropped": 0}
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *args): pass
        def do_HEAD(self): self.forward()
        def do_GET(self): self.forward()
        def forward(self):
            with open(log, "a") as f: f.write(f"{self.command} {self.path} range={self.headers.get('Range')}\n")
            connection = http.client.HTTPConnection("127.0.0.1", upstream)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, headers=headers)
            response = connection.getresponse()
            body = response.read()
            self.send_response(response.status)
            for k, v in response.getheaders():
                if k.lower() not in ("connection", "transfer-encoding"): self.send_header(k, v)
            self.end_headers()
            blob = "/blobs/" in self.path and self.command == "GET" and response.status == 200 and len(body) > 65536
            with lock:
                cut = blob and (mode == "stall" or (mode == "drop" and state["dropped"] == 0))
                if cut and mode == "drop": state["dropped"] += 1
            if cut:
                self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
                with open(log, "a") as f: f.write(f"cut {self.path} at {len(body) // 2} of {len(body)}\n")
                if mode == "stall": time.sleep(120)
                self.close_connection = True
                return
            self.wfile.write(body)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
    """#
}
