import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateX402

/// Pays x402 402s for an agent, within a budget it cannot exceed, never twice for one purchase.
///
/// A request goes out without payment; a 402's terms are read (v2 header or v1 body), the cheapest offer the
/// budget allows is chosen, the caller may confirm, and the ledger checks every limit and records the signed
/// authorization in one transaction before anything is sent. The paid request is then sent, and re-sent with the
/// same authorization (the same `payment-identifier`) after a timeout, a dropped connection or a 502/503/504/429,
/// never with a new one. While an authorization of a request is in doubt (no answer that settles the question), a
/// later run of the same request sends it again instead of signing another, however close to or past its validBefore
/// (`resolve`): a new one is signed only once the old one has expired and the server says it holds nothing for it.
///
/// A proof is only ever sent to the URL that asked for it: requests carrying one go through a client that follows no
/// redirect, whatever `http` does (AsyncHTTPClient carries custom headers, and a 307's body, to another origin), and
/// terms reached through a redirect are not paid.
public struct PaymentClient: Sendable {
    /// A request to make (and pay for).
    public struct Request: Sendable {
        public var method: String
        public var url: String
        public var headers: [(String, String)]
        public var body: [UInt8]?

        public init(method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8]? = nil) {
            self.method = method
            self.url = url
            self.headers = headers
            self.body = body
        }
    }

    /// A response, whole.
    public struct Response: Sendable {
        public var status: Int
        public var headers: HTTPHeaders
        public var body: [UInt8]
        /// Every URL the request went to, in order, when `http` followed redirects (empty when it went to one only).
        public var redirects: [String] = []
    }

    /// What the terms are and what the budget says of them, before anything is signed (`--dry-run`, the prompt).
    public struct Quote: Sendable {
        public var terms: PaymentTerms
        /// The offer that would be paid; nil when the budget refuses every offer (`refusal` says why).
        public var choice: PaymentChoice?
        public var refusal: ClientError?
        /// The windowed limits that apply and what was already spent in each.
        public var standing: [BudgetStanding]
        /// An authorization signed earlier for this request and still in doubt: a real run sends it again first, and
        /// signs nothing new while it is in doubt (`quote(_:)` fills it in; a dry run says so).
        public var pending: Purchase?
    }

    /// How a request ended.
    public struct Outcome: Sendable {
        public var response: Response
        /// The 402 that asked for payment, when there was one.
        public var terms: PaymentTerms?
        /// The purchase as the ledger now has it, when one was paid (or re-sent).
        public var purchase: Purchase?
        /// The decoded receipt (`PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`).
        public var receipt: X402.SettleResponse?
        /// True when an authorization signed earlier for the same request was sent instead of a new one.
        public var resumed: Bool
    }

    /// The client for requests that carry no proof (the unpaid request, an MCP handshake).
    public let http: HTTPClient
    /// The client for requests that carry a proof: it follows no redirect, so a proof never reaches another URL.
    let proofHTTP: HTTPClient = .noRedirects
    public let payer: ExactEVMPayer
    public let ledger: PaymentLedger
    public var budget: Budget
    /// Sends of one paid request at most, the first included.
    public var attempts: Int = 4
    public var timeout: Duration = .seconds(30)
    public var maxResponseBytes: Int = 64 << 20
    public var logger: Logger
    /// EVM nodes by CAIP-2 network: an authorization in doubt past its validBefore is settled by what the chain says
    /// of it (`PaymentClient+Chain.swift`) rather than by the server's answer alone; none: the server's answer decides.
    public var chains: [String: EVMChainReader] = [:]
    /// Unix milliseconds now: the system clock, or a test's.
    var nowMillis: @Sendable () -> Int64 = { PaymentClient.systemMillis() }

    public init(http: HTTPClient, payer: ExactEVMPayer, ledger: PaymentLedger, budget: Budget, logger: Logger) {
        self.http = http
        self.payer = payer
        self.ledger = ledger
        self.budget = budget
        self.logger = logger
    }

    /// Makes `request`, paying a 402 within the budget after `confirm` (given the quote) agrees. An authorization of the
    /// same request still in doubt is resolved first (`resolve`); the run stops with `paymentInDoubt` while the server
    /// leaves it open, and nothing new is signed.
    public func fetch(_ request: Request, confirm: @Sendable (Quote) async -> Bool = { _ in true }) async throws -> Outcome {
        let identity = try Self.identity(request)
        var earlier = try ledger.inDoubt(requestKey: identity.key)
        var terms: PaymentTerms?
        // Each round settles an authorization in doubt (left by an earlier run, or signed by another run meanwhile)
        // or signs one; three cover an expired one, then another run's, with room to spare.
        for _ in 0..<3 {
            let answer: Response
            if let purchase = earlier {
                switch try await resolve(purchase, paidExchange(purchase, request: request, terms: terms, resumed: true)) {
                case .answered(let outcome): return outcome
                case .lapsed(let refusal): answer = refusal
                case .abandoned:
                    earlier = nil
                    continue
                }
            } else {
                answer = try await send(request, through: http)
            }
            guard answer.status == 402 else { return Outcome(response: answer, resumed: false) }
            guard let asked = PaymentTerms.read(headerValue: answer.headers.first(name: X402.paymentRequiredHeader), body: answer.body) else {
                throw ClientError(.serverRefused, "the server answered 402 without x402 terms")
            }
            terms = asked
            if let redirected = answer.redirects.last {
                // The proof would go to the URL asked, which redirects: it is never sent where the terms came from.
                throw ClientError(.invalidRequest, "\(request.url) redirected to \(redirected), which asks for payment; a proof is only sent to the URL "
                                  + "that asked for it and redirects are not followed with one: request \(redirected) itself")
            }
            let quote = try self.quote(asked, for: identity)
            guard let choice = quote.choice else { throw quote.refusal ?? ClientError(.noPayableOffer, "nothing to pay") }
            guard await confirm(quote) else { throw ClientError(.declined, "payment of \(choice.price) to \(choice.option.payTo) declined") }
            let signer = ProofSigner(payer: payer)
            let authorization = try ledger.authorize(choice, for: identity, budget: budget, nowMillis: nowMillis()) { id in
                try signer.header(choice, terms: asked, purchaseId: id, nowSeconds: nowMillis() / 1000).signed(payer: payer, version: asked.version)
            }
            switch authorization {
            case .signed(let purchase):
                return try await resend(purchase, paidExchange(purchase, request: request, terms: asked, resumed: false))
            case .pending(let purchase):
                earlier = purchase
            }
        }
        throw ClientError(.paymentInDoubt, "other runs of this request keep signing authorizations for it; nothing was signed by this one")
    }

    /// What a 402 asks and what the budget says of it; nothing is signed or recorded.
    public func quote(_ request: Request) async throws -> (Response, Quote?) {
        let identity = try Self.identity(request)
        let first = try await send(request, through: http)
        guard first.status == 402,
              let terms = PaymentTerms.read(headerValue: first.headers.first(name: X402.paymentRequiredHeader), body: first.body)
        else { return (first, nil) }
        return (first, try dryQuote(terms, for: identity))
    }

    /// `quote(_:for:)` for a run that pays nothing (`--dry-run`), with the purchase of the same request still in doubt,
    /// which a real run would send again first.
    func dryQuote(_ terms: PaymentTerms, for identity: PaymentLedger.Request) throws -> Quote {
        var quote = try quote(terms, for: identity)
        quote.pending = try ledger.inDoubt(requestKey: identity.key)
        return quote
    }

    func quote(_ terms: PaymentTerms, for identity: PaymentLedger.Request) throws -> Quote {
        let now = nowMillis()
        do {
            let choice = try budget.choose(terms, host: identity.host, tool: identity.tool).first!
            let standing = try BudgetStanding.of(budget, choice: choice, request: identity, ledger: ledger, nowMillis: now)
            if let breach = standing.first(where: { $0.limit < $0.spent + choice.units }) {
                return Quote(terms: terms, choice: nil, refusal: breach.refusal(choice), standing: standing)
            }
            return Quote(terms: terms, choice: choice, refusal: nil, standing: standing)
        } catch let refusal as ClientError {
            return Quote(terms: terms, choice: nil, refusal: refusal, standing: [])
        }
    }

    /// The purchase's proof on `request`, sent through the client that follows no redirect, and how its answers are read:
    /// 2xx delivered; a successful receipt, or a refund the server names, settled (paid, not delivered); a 402 a refusal
    /// (`refused` only when its reason is coded as made before any settlement; `unknown` when it gives none or another, or
    /// when the proof had been sent before: the first send may have been taken); anything else unknown, so the same proof
    /// is what a later run sends.
    func paidExchange(_ purchase: Purchase, request: Request, terms: PaymentTerms?, resumed: Bool) -> PaidExchange<Response, Outcome> {
        var paid = request
        paid.headers.append((purchase.proofName, purchase.proof))
        return PaidExchange(
            name: "the paid request", rerun: "the next run of this request",
            send: { try await send(paid, through: proofHTTP) },
            retry: { answer in
                // A refund named is a final answer (paid, not delivered), not a passing failure.
                guard [429, 502, 503, 504].contains(answer.status), answer.headers.first(name: "Tollgate-Refund") == nil else { return nil }
                return ("HTTP \(answer.status)", answer.headers.first(name: "Retry-After"))
            },
            judge: Self.judge,
            kept: { answer, kept in
                Outcome(response: answer, terms: terms, purchase: kept, receipt: Self.receipt(answer).decoded, resumed: resumed)
            })
    }

    /// What an HTTP answer to a proof says of the payment.
    static func judge(_ response: Response) -> Judgement {
        let (header, receipt) = Self.receipt(response)
        var judgement = Judgement(ending: .unknown, status: response.status, correlationId: response.headers.first(name: "Tollgate-Correlation-Id"),
                                  transaction: receipt.map(\.transaction).flatMap { $0.isEmpty ? nil : $0 },
                                  receipt: header.flatMap(HeaderCodec.base64Bytes).map { String(decoding: $0, as: UTF8.self) })
        let refund = response.headers.first(name: "Tollgate-Refund")
        if (200..<300).contains(response.status) {
            judgement.ending = .delivered
        } else if receipt?.success == true || refund != nil {
            judgement.ending = .settledUndelivered
            judgement.reason = "settled, not delivered: HTTP \(response.status)" + (refund.map { ", refund \($0)" } ?? "")
        } else if response.status == 402 {
            let terms = PaymentTerms.read(headerValue: response.headers.first(name: X402.paymentRequiredHeader), body: response.body)
            judgement.ending = .refusal
            judgement.askedAgain = true
            if receipt?.success == false { judgement.settlementFailure = receipt?.errorReason ?? "" }
            // Terms this client cannot read (x402-express v1 writes a thrown error as `"error": {}`) give no reason:
            // such a 402 proves nothing of the money (`Judgement.mayHaveMoved`).
            judgement.refusalCode = terms?.error ?? judgement.settlementFailure
            judgement.reason = terms?.error ?? judgement.settlementFailure.map { "settlement failed: \($0)" }
                ?? (terms == nil ? "HTTP 402 without terms this client can read" : "HTTP 402 with fresh terms and no reason")
        } else {
            judgement.reason = "HTTP \(response.status)"
        }
        return judgement
    }

    /// The receipt header (`PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE`) and what it says, read strictly: a receipt with a
    /// repeated member reads as none (as a server that sends none), never one way here and another in a log.
    static func receipt(_ response: Response) -> (header: String?, decoded: X402.SettleResponse?) {
        let header = response.headers.first(name: X402.paymentResponseHeader) ?? response.headers.first(name: "X-PAYMENT-RESPONSE")
        return (header, header.flatMap { HeaderCodec.read(X402.SettleResponse.self, header: $0) })
    }

    /// One HTTP exchange through `client`, the body read whole (up to `maxResponseBytes`); no answer is `unreachable`.
    func send(_ request: Request, through client: HTTPClient) async throws -> Response {
        var outgoing = HTTPClientRequest(url: request.url)
        outgoing.method = HTTPMethod(rawValue: request.method.uppercased())
        for (name, value) in request.headers { outgoing.headers.add(name: name, value: value) }
        if let body = request.body { outgoing.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(outgoing, timeout: .seconds(Int64(timeout.components.seconds)), logger: logger)
            // Terms are small: a 402 body larger than 1 MiB is not read whole (a hostile server's memory bomb).
            let body = try await response.body.collect(upTo: response.status.code == 402 ? min(maxResponseBytes, 1 << 20) : maxResponseBytes)
            let visited = response.history.map { $0.request.url }
            return Response(status: Int(response.status.code), headers: response.headers, body: Array(buffer: body),
                            redirects: visited.count > 1 ? Array(visited.dropFirst()) : [])
        } catch let error as CancellationError {
            throw error
        } catch let error as HTTPClientError where Self.isInvalidRequest(error) {
            throw ClientError(.invalidRequest, "\(request.method) \(request.url) cannot be sent: \(error)")
        } catch {
            throw ClientError(.unreachable, "\(request.method) \(request.url) got no answer: \(error)")
        }
    }

    /// What identifies the purchase of `request`: method, URL and body, hashed.
    static func identity(_ request: Request) throws(ClientError) -> PaymentLedger.Request {
        let host = try httpHost(request.url, what: "URL")
        var hash = SHA256()
        hash.update(data: Array(request.method.uppercased().utf8) + [0] + Array(request.url.utf8) + [0])
        hash.update(data: request.body ?? [])
        // The caller's headers too (an API key, a customer id): a request made for someone else is another purchase.
        hash.update(data: Self.headerBytes(request.headers))
        return PaymentLedger.Request(method: request.method.uppercased(), url: request.url, host: host, tool: nil,
                                     key: HexString.encode(hash.finalize()))
    }

    /// The normalised host of an http(s) URL, the key budgets are kept under; anything else is `invalidRequest`.
    static func httpHost(_ url: String, what: String) throws(ClientError) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
              let host = parsed.host, !host.isEmpty
        else {
            throw ClientError(.invalidRequest, "not an http(s) \(what): \(url)")
        }
        return Budget.normalized(host)
    }

    /// What AsyncHTTPClient refuses before sending anything: the request, not the server, is at fault.
    static func isInvalidRequest(_ error: HTTPClientError) -> Bool {
        if [.invalidURL, .emptyHost, .emptyScheme, .incompatibleHeaders].contains(error) { return true }
        let text = String(describing: error)
        return text.contains("unsupportedScheme") || text.contains("invalidHeaderField")
    }

    /// Headers in one canonical spelling (names lowercased, sorted), for a purchase's identity.
    static func headerBytes(_ headers: [(String, String)]) -> [UInt8] {
        let canonical: [(name: String, value: String)] = headers.map { ($0.0.lowercased(), $0.1) }
        var bytes: [UInt8] = []
        for header in canonical.sorted(by: { ($0.name, $0.value) < ($1.name, $1.value) }) {
            bytes.append(0)
            bytes += Array(header.name.utf8)
            bytes.append(0)
            bytes += Array(header.value.utf8)
        }
        return bytes
    }

    /// 0.5 s, 1 s, 2 s … or the server's `Retry-After` (seconds), at most 10 s.
    static func backoff(_ attempt: Int, retryAfter: String?) -> Duration {
        if let retryAfter, let seconds = Double(retryAfter.trimmingCharacters(in: .whitespaces)), seconds >= 0 {
            return .milliseconds(Int64(min(seconds, 10) * 1000))
        }
        return .milliseconds(min(500 << attempt, 10_000))
    }

    static func systemMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }
}

/// One windowed limit that applies to a payment, and what was already spent against it.
public struct BudgetStanding: Sendable, Hashable {
    public var scope: SpendScope
    public var window: String
    public var limit: MicroUnits
    public var spent: MicroUnits

    func refusal(_ choice: PaymentChoice) -> ClientError {
        ClientError(.budgetExceeded, "\(window) (\(scope)): \(spent) spent, this payment \(choice.units), the limit is \(limit)")
    }

    static func of(_ budget: Budget, choice: PaymentChoice, request: PaymentLedger.Request, ledger: PaymentLedger,
                   nowMillis: Int64) throws -> [BudgetStanding] {
        var standing: [BudgetStanding] = []
        for (scope, limits) in budget.scopes(host: request.host, payee: choice.option.payTo, tool: request.tool) {
            for window in limits.windows {
                standing.append(BudgetStanding(scope: scope, window: window.name, limit: window.limit,
                                               spent: try ledger.spent(scope, seconds: window.seconds, nowMillis: nowMillis)))
            }
        }
        return standing
    }
}
