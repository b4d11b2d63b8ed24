package io.psgivassal.emperor.core;

import java.net.URI;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Optional;

/**
 * An immutable snapshot of one vassal, safe to read from any thread.
 *
 * @param pid the current process, 0 when there is none
 * @param httpUrl the vassal's http-socket from its ini, as a URL (best effort)
 */
public record VassalView(
    String name,
    Path configPath,
    boolean adopted,
    VassalState state,
    int pid,
    boolean ready,
    boolean accepting,
    boolean loyal,
    int respawns,
    Optional<Instant> born,
    Optional<Instant> lastHeartbeat,
    Optional<URI> httpUrl) {}
