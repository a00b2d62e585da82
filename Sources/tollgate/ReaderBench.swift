import Foundation
import TollgateCore
import TollgateX402

/// `tollgate bench --mode readers --requests N`: what reading a paid request's JSON costs, in process (no network), in
/// nanoseconds per message: the strict one-pass reader the gateway uses (`StrictJSON.parse` and the hand readers)
/// next to the two passes it replaced (`StrictJSON.violation(in:)`, then `JSONDecoder`). CPU figures of whole requests
/// vary from run to run on a shared machine; these do much less.
enum ReaderBench {
    static func run(iterations: Int) throws {
        let requirements = X402.PaymentRequirements(
            scheme: "exact", network: "eip155:84532", asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", amount: "10000",
            payTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", maxTimeoutSeconds: 60,
            extra: ["name": .string("USDC"), "version": .string("2"), X402.offerExtraKey: .string(String(repeating: "t", count: 420))])
        guard let payer = ExactEVMPayer(privateKey: Array(repeating: 7, count: 32)) else { return }
        let payment = try payer.pay(requirements, resource: .init(url: "http://127.0.0.1:8402/datasets/prices"), now: 1_800_000_000)
        let payload = JSONWriter.bytes(payment, capacity: 2048)
        let body = X402.FacilitatorRequest(payload: payment, requirements: requirements).body
        let answer = JSONWriter.bytes(X402.VerifyResponse(isValid: true, payer: payment.payload.authorization.from))

        print("reading one message, \(iterations) times each (ns per message; before: strict check, then JSONDecoder)")
        compare("payment payload (\(payload.count) bytes)", iterations,
                before: { StrictJSON.violation(in: payload) == nil ? try? JSONDecoder().decode(X402.PaymentPayload.self, from: Data(payload)) : nil },
                after: { StrictJSON.tree(payload).flatMap(X402.PaymentPayload.init(json:)) })
        compare("facilitator body (\(body.count) bytes)", iterations,
                before: { try? JSONDecoder().decode(X402.FacilitatorRequest.Contents.self, from: Data(body)) },
                after: { X402.FacilitatorRequest(body: body).contents() })
        compare("verify answer (\(answer.count) bytes)", iterations,
                before: { try? JSONDecoder().decode(X402.VerifyResponse.self, from: Data(answer)) },
                after: { StrictJSON.tree(answer).flatMap(X402.VerifyResponse.init(json:)) })
    }

    static func compare<Message>(_ label: String, _ iterations: Int, before: () -> Message?, after: () -> Message?) {
        let old = nanos(iterations, before), new = nanos(iterations, after)
        print(label.padding(toLength: 36, withPad: " ", startingAt: 0)
              + String(format: "%8.0f ns before  %8.0f ns now  (%.1f×)", old, new, old / max(new, 1)))
    }

    static func nanos<Message>(_ iterations: Int, _ read: () -> Message?) -> Double {
        var decoded = 0
        let start = ContinuousClock.now
        for _ in 0..<iterations where read() != nil { decoded += 1 }
        precondition(decoded == iterations, "a timed step gave nothing: a reader refused its message, or a writer wrote nothing")
        return Double((ContinuousClock.now - start).inNanoseconds) / Double(iterations)
    }
}
