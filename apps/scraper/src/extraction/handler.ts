/**
 * The extraction worker's handler module: runs `@trawl/extract` on the pages
 * the pool hands it, inside a worker thread.
 *
 * @internal
 */
import { Extract } from "@trawl/extract"
import { WorkerHandler } from "@trawl/worker"
import { Protocol } from "./protocol.ts"

const handler: WorkerHandler.WorkerHandler<typeof Protocol> = WorkerHandler.make(Protocol, {
  ExtractPage: (request) =>
    Extract.extractProduct(request.body, {
      url: request.url,
      ...(request.charset === "" ? {} : { charset: request.charset }),
      ...(request.rules === undefined ? {} : { rules: request.rules })
    })
})

export default handler
