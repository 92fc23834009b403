/// A registry reference, `HOST[:PORT]/PATH[:TAG][@sha256:HEX]`, in the
/// grammar of the distribution project (`reference.go`) and of the OCI
/// distribution spec's `<name>`. Unlike Docker, the lab asks for the host:
/// a name without one would mean Docker Hub, which the lab never reaches
/// for on its own. A pulled image is stored under its full reference
/// (`127.0.0.1:5000/lab/app:v1`): wherever an image name is taken, a
/// reference is too.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible {
    /// `host[:port]`, as written (`localhost:5000`, `[::1]:5000`).
    public var host: String
    /// The repository, `lab/app`: lower-case path components.
    public var repository: String
    /// Nil only when a digest names the image.
    public var tag: String?
    /// `sha256:...`, when given; it wins over the tag.
    public var digest: String?

    public init(host: String, repository: String, tag: String?, digest: String? = nil) {
        self.host = host
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// Parses a reference; no tag and no digest mean `latest`, as Docker's.
    public init(parsing text: String) throws(Invalid) {
        func fail(_ why: String) -> Invalid {
            Invalid(description: "'\(text.prefix(200))' is not a registry reference (\(why)); write HOST[:PORT]/REPOSITORY[:TAG][@sha256:DIGEST], e.g. 127.0.0.1:5000/lab/app:v1")
        }
        guard text.utf8.count <= 512 else { throw fail("longer than 512 bytes") }
        var rest = Substring(text)
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let value = String(rest[rest.index(after: at)...])
            guard value.hasPrefix("sha256:"), value.utf8.count == 71,
                  value.utf8.dropFirst(7).allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                throw fail("the digest after @ must be sha256: and 64 lower-case hex digits")
            }
            digest = value
            rest = rest[..<at]
        }
        guard let slash = rest.firstIndex(of: "/") else { throw fail("no registry host: the lab pulls only from a registry it is told") }
        let host = String(rest[..<slash])
        guard Self.isHost(host) else { throw fail("'\(host)' is not a registry host (a name with a dot or a port, localhost, or [IPv6]:PORT)") }
        var path = rest[rest.index(after: slash)...]
        var tag: String?
        if let lastSlash = path.lastIndex(of: "/") ?? Optional(path.startIndex),
           let colon = path[lastSlash...].firstIndex(of: ":") {
            tag = String(path[path.index(after: colon)...])
            path = path[..<colon]
            guard let tag, Self.isTag(tag) else { throw fail("the tag must be 1-128 of A-Z a-z 0-9 _ . -, not starting with . or -") }
        }
        guard !path.isEmpty, path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy(Self.isPathComponent) else {
            throw fail("the repository is lower-case path components of a-z 0-9 joined by . _ __ or -, separated by /")
        }
        guard host.utf8.count + 1 + path.utf8.count <= 255 else { throw fail("the name is longer than 255 bytes") }
        let slashes = 1 + path.utf8.filter { $0 == UInt8(ascii: "/") }.count
        guard text.utf8.count + 2 * slashes + (tag == nil && digest == nil ? 7 : 0) <= 200 else {
            throw fail("longer than the lab stores: at most 200 bytes, each / counted as 3")
        }
        self.host = host
        self.repository = String(path)
        self.tag = tag ?? (digest == nil ? "latest" : nil)
        self.digest = digest
    }

    /// Parses only what looks like a reference (it has a `/`): an image
    /// name of the lab's own stays a name.
    public static func ifReference(_ text: String) throws(Invalid) -> ImageReference? {
        text.contains("/") ? try ImageReference(parsing: text) : nil
    }

    /// The tag or digest asked of the registry's `manifests/` endpoint.
    public var manifestReference: String { digest ?? tag ?? "latest" }

    /// The canonical form the store names the image by.
    public var description: String {
        host + "/" + repository + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "")
    }

    /// Plain HTTP is allowed without `--insecure` only on loopback, as Docker does.
    /// Only addresses, never a DNS name that looks like one (`127.evil.example`).
    public var isLoopback: Bool {
        let name = hostName
        if name == "localhost" || name == "::1" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.first == "127"
            && octets.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && Int($0).map { $0 <= 255 } == true }
    }

    /// The host without its port (and an IPv6 address without brackets).
    public var hostName: String {
        if host.hasPrefix("["), let close = host.firstIndex(of: "]") { return String(host[host.index(after: host.startIndex)..<close]) }
        return host.split(separator: ":", maxSplits: 1).first.map(String.init) ?? host
    }

    static func isHost(_ host: String) -> Bool {
        if host == "localhost" { return true }
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            let address = host[host.index(after: host.startIndex)..<close]
            let port = host[host.index(after: close)...]
            return !address.isEmpty && address.utf8.allSatisfy { isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }
                && (port.isEmpty || (port.hasPrefix(":") && isPort(port.dropFirst())))
        }
        let parts = host.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        if parts.count == 2 && !isPort(parts[1]) { return false }
        let name = parts[0]
        guard host.contains(".") || parts.count == 2 || name == "localhost" else { return false }
        return !name.isEmpty && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            guard let first = label.utf8.first, let last = label.utf8.last else { return false }
            return isAlnum(first, upper: true) && isAlnum(last, upper: true)
                && label.utf8.allSatisfy { isAlnum($0, upper: true) || $0 == UInt8(ascii: "-") }
        }
    }

    static func isPort(_ text: Substring) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let port = Int(text) else { return false }
        return (1...65535).contains(port)
    }

    static func isTag(_ tag: String) -> Bool {
        guard let first = tag.utf8.first, tag.utf8.count <= 128 else { return false }
        return (isAlnum(first, upper: true) || first == UInt8(ascii: "_"))
            && tag.utf8.allSatisfy { isAlnum($0, upper: true) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
    static func isPathComponent(_ component: Substring) -> Bool {
        let bytes = Array(component.utf8)
        guard let first = bytes.first, let last = bytes.last, isAlnum(first, upper: false), isAlnum(last, upper: false) else { return false }
        var i = 0
        while i < bytes.count {
            if isAlnum(bytes[i], upper: false) { i += 1; continue }
            var j = i
            while j < bytes.count, !isAlnum(bytes[j], upper: false) { j += 1 }
            let separator = bytes[i..<j]
            let ok = separator.elementsEqual([UInt8(ascii: ".")]) || separator.elementsEqual([UInt8(ascii: "_")])
                || separator.elementsEqual([UInt8(ascii: "_"), UInt8(ascii: "_")]) || separator.allSatisfy { $0 == UInt8(ascii: "-") }
            guard ok else { return false }
            i = j
        }
        return true
    }

    static func isAlnum(_ b: UInt8, upper: Bool) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || (upper && b >= 0x41 && b <= 0x5A)
    }

    static func isHexDigit(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46) }
}

extension ImageDefinition {
    /// A name an image may be stored and asked for by: a lab name, or a
    /// registry reference (a pulled image's).
    /// A reference's name must fit a file name once its `/` are `%2F`
    /// (the store's tag file), with room for a temporary suffix.
    public static func isValidImageName(_ name: String) -> Bool {
        isValidName(name) || (name.contains("/") && name.utf8.count + 2 * name.utf8.filter { $0 == UInt8(ascii: "/") }.count <= 200
                              && (try? ImageReference(parsing: name)) != nil)
    }
}
