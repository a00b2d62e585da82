import Foundation
import TollgateCore
import TollgateX402

/// Where the payer's private key comes from: a file only its owner can read (`--key-file`), or the environment
/// variable `TOLLGATE_PAYER_KEY`; never a command-line argument (other users see those in the process list). Hex,
/// with or without `0x`. The key is never logged or printed; only its address is.
public enum PayerKey {
    public static let environmentVariable = "TOLLGATE_PAYER_KEY"

    public static func load(keyFile: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws(ClientError) -> ExactEVMPayer {
        let text: String
        let source: String
        if let keyFile {
            text = try read(keyFile)
            source = "the key file \(keyFile)"
        } else if let value = environment[environmentVariable], !value.isEmpty {
            text = value
            source = environmentVariable
        } else {
            throw ClientError(.invalidKey, "no payer key: set \(environmentVariable) or pass --key-file FILE (hex, readable by you only)")
        }
        guard let payer = parse(text) else { throw ClientError(.invalidKey, "\(source) does not hold a secp256k1 private key (64 hex digits)") }
        return payer
    }

    /// The key file's text: checked on the open descriptor (a regular file, owned by this user, readable by nobody
    /// else) before anything is read, and at most 1 KiB of it.
    static func read(_ path: String) throws(ClientError) -> String {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW)
        guard descriptor >= 0 else { throw ClientError(.invalidKey, "cannot read the key file \(path)") }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            throw ClientError(.invalidKey, "the key file \(path) is not a regular file")
        }
        guard status.st_mode & 0o077 == 0, status.st_uid == geteuid() else {
            throw ClientError(.invalidKey, "the key file \(path) can be read by others or is not yours (mode \(String(status.st_mode & 0o777, radix: 8))); chmod 600 it")
        }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let count = bytes.withUnsafeMutableBytes { Foundation.read(descriptor, $0.baseAddress, 1024) }
        guard count > 0 else { throw ClientError(.invalidKey, "cannot read the key file \(path)") }
        return String(decoding: bytes.prefix(count), as: UTF8.self)
    }

    /// A key in hex (64 digits, `0x` optional, surrounding whitespace ignored).
    public static func parse(_ text: String) -> ExactEVMPayer? {
        var hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if hex.hasPrefix("0x") || hex.hasPrefix("0X") { hex.removeFirst(2) }
        guard hex.count == 64, let bytes = HexString.decode(hex) else { return nil }
        return ExactEVMPayer(privateKey: bytes)
    }
}
