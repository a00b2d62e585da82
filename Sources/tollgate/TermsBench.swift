import Foundation
import TollgateCore
import TollgateX402

/// `tollgate bench --mode terms --requests N`: what writing a 402's terms costs, in process, in nanoseconds per 402:
/// offers signed, the v2 `PAYMENT-REQUIRED` header, and the v1 body's `accepts`, for a route priced in two assets with
/// discovery (on two networks: v1 names no asset, so two on one network at one price are left out of its body). Like `--mode readers`, steadier than whole-request CPU figures on a shared machine; compare two binaries.
enum TermsBench {
    static func run(iterations: Int) {
        let usdc = Asset(id: "usdc", network: "eip155:84532", address: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", decimals: 6,
                         eip712Name: "USDC", eip712Version: "2")
        let eurc = Asset(id: "eurc", network: "eip155:11155111", address: "0x808456652fdb597867f38412077A9182bf77359F", decimals: 6,
                         eip712Name: "EURC", eip712Version: "2")
        let rails = ExactEVMRail(assets: [usdc, eurc], facilitators: FacilitatorPool([]), publicURL: "http://127.0.0.1:8402").rails(v1: true)
        guard let v2 = rails.first as? ExactEVMRail, let v1 = rails.last as? ExactEVMRail,
              let keys = KeyRing([SecretKey(id: "k1", secret: Array(repeating: 7, count: 32))!]) else { return }
        let signer = OfferSigner(keys: keys)
        let offers = [usdc, eurc].map { asset in
            Offer(correlationId: "tg_01a24234cfd1e7912810f68d2047f086", resource: "datasets", request: "GET /datasets/prices", bodyDigest: nil,
                  client: "anonymous", network: asset.network, asset: asset.address, amount: TokenAmount(atomic: "10000")!,
                  payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", unit: "request", quantity: 1, maxTimeoutSeconds: 60,
                  expiresAt: 1_800_000_000)
        }
        let discovery = Discovery(method: "GET", queryExample: .object(["day": .string("2026-11-25")]),
                                  outputExample: .object(["records": .array([.object(["symbol": .string("ACME")])])]))
        let challenge = PaymentChallenge(resourceURL: "http://127.0.0.1:8402/datasets/prices", description: "Daily market datasets",
                                         mimeType: "application/json", offers: offers.map(signer.sign), error: "Payment required",
                                         discovery: discovery)
        print("writing the terms of one 402 with two offers, \(iterations) times each (ns per 402)")
        time("two offers signed", iterations) { offers.map(signer.sign).count }
        time("v2 PAYMENT-REQUIRED header", iterations) { v2.challengeFields(challenge).count }
        time("v1 body accepts", iterations) { v1.challengeBody(challenge).count }
    }

    /// `body` answers how much it wrote; nothing written stops the bench (`ReaderBench.nanos`).
    static func time(_ label: String, _ iterations: Int, _ body: () -> Int) {
        let nanos = ReaderBench.nanos(iterations) { body() > 0 ? true : nil }
        print(label.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%8.0f ns", nanos))
    }
}
