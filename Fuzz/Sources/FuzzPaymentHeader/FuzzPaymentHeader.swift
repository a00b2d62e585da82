// Fuzz target: the x402 payment header decoder (`ExactEVMRail.decode` and `proofFingerprint`), and the
// local verification of whatever it decodes (EIP-712 hashing, signature recovery through libsecp256k1).
//
// The first input byte chooses how the rest reaches the rail, so mutations are not all spent failing
// the base64 step:
//   0: the bytes are the PAYMENT-SIGNATURE value as sent (base64 expected; anything goes)
//   1: the bytes are the JSON inside: sent base64-encoded (standard, padded)
//   2: the bytes are the JSON inside: sent base64url without padding (lenient clients)
//   3: the bytes are split at their middle into two PAYMENT-SIGNATURE fields, each base64-encoded
//   4: the bytes are an x402 v1 X-PAYMENT value (refused, but read for the fingerprint)
// Invariants: the decoder never answers "absent" when PAYMENT-SIGNATURE is present, and every request
// carrying either header has a fingerprint.
import CLibFuzzer
import Foundation
import HTTPTypes
import TollgateCore
import TollgateX402

/// The asset and offer of the golden wire capture (Tests/TollgateX402Tests/Fixtures), so the captured
/// proof in the seed corpus reaches a valid verdict and mutations of it explore every refusal.
let asset = Asset(id: "usdc-base-sepolia", network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
                  decimals: 6, eip712Name: "USDC", eip712Version: "2")
let rail = ExactEVMRail(assets: [asset], facilitators: FacilitatorPool([]))
let offer = Offer(correlationId: "fuzz", resource: "data", request: "GET /data", bodyDigest: nil, client: "-",
                  network: "eip155:84532", asset: asset.address, amount: TokenAmount(atomic: "10000")!,
                  payTo: "0x469603a7F51BF1327908e1Ca7eD880793D66162e", unit: "request", quantity: 1,
                  maxTimeoutSeconds: 300, expiresAt: 1_795_641_000)
/// A moment inside the captured authorization's validity window.
let captureTime: Int64 = 1_795_640_800

let signatureHeader = HTTPField.Name(X402.paymentSignatureHeader)!
let legacyHeader = HTTPField.Name(X402.legacyPaymentHeader)!

func base64url(_ bytes: some Sequence<UInt8>) -> String {
    var text = Data(bytes).base64EncodedString()
    text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    while text.hasSuffix("=") { text.removeLast() }
    return text
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: data, count: size)
    guard let mode = input.first else { return 0 }
    let body = Array(input.dropFirst())
    var fields = HTTPFields()
    switch mode % 5 {
    case 0:
        fields.append(HTTPField(name: signatureHeader, lenientValue: body))
    case 1:
        fields[signatureHeader] = Data(body).base64EncodedString()
    case 2:
        fields[signatureHeader] = base64url(body)
    case 3:
        let middle = body.count / 2
        fields.append(HTTPField(name: signatureHeader, value: Data(body[..<middle]).base64EncodedString()))
        fields.append(HTTPField(name: signatureHeader, value: Data(body[middle...]).base64EncodedString()))
    default:
        fields.append(HTTPField(name: legacyHeader, lenientValue: body))
    }

    precondition(rail.proofFingerprint(fields) != nil, "a request with a payment header has no fingerprint")
    switch rail.decode(fields) {
    case .absent:
        precondition(fields[signatureHeader] == nil, "PAYMENT-SIGNATURE is present but decoded as absent")
    case .malformed:
        break
    case .proof(let proof):
        precondition(fields[signatureHeader] != nil, "a proof decoded without PAYMENT-SIGNATURE")
        _ = rail.verifyLocally(proof, offer: offer, now: captureTime)
    }
    return 0
}

/// libFuzzer's driver as this executable's entry point. SwiftPM links `main` to `<module>_main` (so tests
/// could import executables); this is that symbol, doing what libFuzzer's own `main` does.
@_cdecl("FuzzPaymentHeader_main")
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
