// Fuzz target: the request path normaliser (`RequestPath.normalize`), which decides the one spelling
// routes are matched on and the upstream receives. The input is the path (lossily decoded as UTF-8,
// like a request target). Invariants of every accepted path, checked on its UTF-8 bytes (String
// comparison would treat canonically equivalent spellings as equal):
// - it starts with "/";
// - no segment is "." or "..";
// - it contains no "%2F", "%2f", "%5C", "%5c" or "\";
// - no control character (C0 or DEL);
// - every "%" starts an escape of two uppercase hex digits of a byte that is not unreserved (RFC 3986
//   §2.3: those are always decoded);
// - normalising it again gives it back unchanged (idempotent).
import CLibFuzzer
import TollgateCore

let slash = UInt8(ascii: "/")
let percent = UInt8(ascii: "%")

func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
         UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"): true
    default: false
    }
}

func contains(_ bytes: [UInt8], _ needle: String) -> Bool {
    let needle = Array(needle.utf8)
    guard bytes.count >= needle.count else { return false }
    return (0...(bytes.count - needle.count)).contains { bytes[$0..<($0 + needle.count)].elementsEqual(needle) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard case .success(let path) = RequestPath.normalize(input) else { return 0 }
    let bytes = Array(path.utf8)
    precondition(bytes.first == slash, "normalised path does not start with /: \(path.debugDescription)")
    for segment in bytes.split(separator: slash, omittingEmptySubsequences: false) {
        precondition(!segment.elementsEqual(".".utf8) && !segment.elementsEqual("..".utf8),
                     "normalised path has a dot segment: \(path.debugDescription)")
    }
    for forbidden in ["%2F", "%2f", "%5C", "%5c", "\\"] {
        precondition(!contains(bytes, forbidden), "normalised path contains \(forbidden): \(path.debugDescription)")
    }
    precondition(!bytes.contains { $0 < 0x20 || $0 == 0x7F }, "normalised path has a control character: \(path.debugDescription)")
    for (index, byte) in bytes.enumerated() where byte == percent {
        guard index + 2 < bytes.count, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else {
            preconditionFailure("normalised path has a % that is not an uppercase escape: \(path.debugDescription)")
        }
        precondition(!isUnreserved(high << 4 | low), "normalised path keeps an escaped unreserved byte: \(path.debugDescription)")
    }
    switch RequestPath.normalize(path) {
    case .success(let again):
        precondition(Array(again.utf8) == bytes,
                     "normalize is not idempotent: \(input.debugDescription) -> \(path.debugDescription) -> \(again.debugDescription)")
    case .failure(let refusal):
        preconditionFailure("normalize is not idempotent: \(input.debugDescription) -> \(path.debugDescription) -> refused (\(refusal))")
    }
    return 0
}

/// libFuzzer's driver as this executable's entry point. SwiftPM links `main` to `<module>_main` (so tests
/// could import executables); this is that symbol, doing what libFuzzer's own `main` does.
@_cdecl("FuzzRequestPath_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        guard let data else {
            var empty: UInt8 = 0
            return fuzz(&empty, 0)
        }
        return fuzz(data, size)
    }
}
