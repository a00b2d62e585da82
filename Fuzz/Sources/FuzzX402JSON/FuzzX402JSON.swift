// Fuzz target: the x402 JSON readers. The input is JSON text as found inside an x402 header or a
// facilitator's answer.
//
// - `StrictJSON.violation(in:)`, the duplicate-key check every proof passes before anything else reads it.
// - `JSONDecoder` into every x402 message type and into `JSONValue` (the `extra` and `extensions` trees).
// Invariants (a failed precondition is a crash libFuzzer reports):
// - a violation's offset lies inside the text (0...count);
// - a text StrictJSON accepts crashes nothing: not JSONSerialization, not JSONDecoder (refusing it is
//   fine: Foundation rejects some texts RFC 8259 allows);
// - a payment payload decoded from an accepted text, re-encoded the way the gateway forwards it to a
//   facilitator (`HeaderCodec.json`), is itself accepted by StrictJSON and decodes to the same payload (numbers of
//   `extra` compared as `same` does: beyond 2^53 Foundation's reading of a fraction need not round-trip);
// - the one-pass tree (`StrictJSON.parse`, what the gateway reads proofs and offer claims with) refuses every text
//   `violation(in:)` refuses, accepts nothing it refuses, and reads what it accepts as Foundation does: the same
//   `JSONValue` (numbers compared as Doubles, see `same`), and the same payment payload through the hand reader
//   (`X402.PaymentPayload(json:)`), and the same terms (`X402.PaymentRequired(json:)`, how the paying client reads a
//   402); a facilitator
//   body (`FacilitatorRequest.contents()`) is only read from strict JSON.
import CLibFuzzer
import Foundation
import TollgateCore
import TollgateX402

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let violation = StrictJSON.violation(in: bytes)
    if let violation {
        precondition(violation.offset >= 0 && violation.offset <= bytes.count, "violation offset \(violation.offset) outside 0...\(bytes.count)")
        _ = violation.description
    }

    let text = Data(bytes)
    let decoder = JSONDecoder()
    let payload = try? decoder.decode(X402.PaymentPayload.self, from: text)
    let required = try? decoder.decode(X402.PaymentRequired.self, from: text)
    _ = try? decoder.decode(X402.SettleResponse.self, from: text)
    _ = try? decoder.decode(X402.VerifyResponse.self, from: text)
    _ = try? decoder.decode(X402.SupportedResponse.self, from: text)
    _ = JSONValue.parse(bytes)

    let tree = try? StrictJSON.parse(bytes).get()
    if violation != nil {
        precondition(tree == nil, "the tree accepts a text StrictJSON refuses")
        precondition(X402.FacilitatorRequest(body: bytes).contents() == nil, "a facilitator reads a body StrictJSON refuses")
    }
    if let tree, let foundation = JSONValue.parse(bytes) {
        precondition(same(tree, foundation), "the tree and Foundation read one text differently")
        let byHand = X402.PaymentPayload(json: tree)
        precondition((byHand == nil) == (payload == nil), "the hand reader and JSONDecoder disagree on whether this is a payload")
        if let byHand, let payload {
            precondition(same(JSONValue.parse(HeaderCodec.json(byHand))!, JSONValue.parse(HeaderCodec.json(payload))!),
                         "the hand reader and JSONDecoder read one payload differently")
        }
        let termsByHand = X402.PaymentRequired(json: tree)
        precondition((termsByHand == nil) == (required == nil), "the hand reader and JSONDecoder disagree on whether these are terms")
        if let termsByHand, let required {
            precondition(same(JSONValue.parse(HeaderCodec.json(termsByHand))!, JSONValue.parse(HeaderCodec.json(required))!),
                         "the hand reader and JSONDecoder read one set of terms differently")
        }
    }

    guard violation == nil else { return 0 }
    _ = try? JSONSerialization.jsonObject(with: text, options: [.fragmentsAllowed])
    if let payload {
        let forwarded = HeaderCodec.json(payload)
        precondition(StrictJSON.violation(in: forwarded) == nil, "a re-encoded payload is not strict JSON")
        let again = try? decoder.decode(X402.PaymentPayload.self, from: Data(forwarded))
        // Equal as `same` compares trees: a number of `extra` beyond 2^53 with a fraction is read by Foundation's decimal
        // rules and may come back as the neighbouring Double or as an integer (seed payment-extra-fraction-beyond-double-
        // reencoded); every member the gateway checks is a string and compared exactly.
        precondition(again.map { same(JSONValue.parse(HeaderCodec.json($0))!, JSONValue.parse(forwarded)!) } == true
                     && again?.payload == payload.payload && again?.accepted.amount == payload.accepted.amount,
                     "a re-encoded payload does not decode to itself")
    }
    return 0
}

/// Equal trees, numbers compared as Doubles within a few units in the last place. Foundation reads a number written
/// with a fraction or an exponent by its own decimal rules (beyond Double's precision it truncates:
/// `9267890061728141.5` is the integer 9267890061728141); the tree reads it through Double (9267890061728142). Below
/// 2^53 the two are the same value; above, they are neighbours.
func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
    switch (a, b) {
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
    case (.object(let x), .object(let y)): return Set(x.keys) == Set(y.keys) && x.allSatisfy { same($0.value, y[$0.key]!) }
    default:
        guard let x = double(a), let y = double(b) else { return a == b }
        return x == y || abs(x - y) <= max(abs(x), abs(y)).ulp * 4
    }
}

func double(_ value: JSONValue) -> Double? {
    switch value {
    case .integer(let number): Double(number)
    case .number(let number): number
    default: nil
    }
}

/// libFuzzer's driver as this executable's entry point. SwiftPM links `main` to `<module>_main` (so tests
/// could import executables); this is that symbol, doing what libFuzzer's own `main` does.
@_cdecl("FuzzX402JSON_main")
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
