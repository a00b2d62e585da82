import Foundation
@testable import TollgateX402

/// Golden wire captures between the official x402 Python SDK client and its reference server.
struct WireFixtures: Decodable {
    let paymentRequired: String
    let paymentRequiredReplay: String
    let paymentSignature: String
    let paymentSignatureTamperedR: String
    let paymentResponseSuccess: String
    let paymentResponseFailure: String

    static let shared: WireFixtures = {
        let url = Bundle.module.url(forResource: "wire-examples", withExtension: "json", subdirectory: "Fixtures")!
        return try! JSONDecoder().decode(WireFixtures.self, from: Data(contentsOf: url))
    }()

    /// A moment inside the captured authorization's validity window.
    static let captureTime: Int64 = 1_795_640_800
}
