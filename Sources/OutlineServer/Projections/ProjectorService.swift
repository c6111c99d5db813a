import OutlineProjections
import ServiceLifecycle

/// Runs the asynchronous projections (`session_activity`) for as long as the
/// service runs; a graceful shutdown ends the loop between batches (a batch is
/// one transaction, so stopping never leaves half of one).
struct ProjectorService: Service {
    let projector: SessionActivityProjector

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await projector.run()
        }
    }
}
