package io.psgivassal.emperor.api;

import java.net.URI;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;

/**
 * An immutable snapshot of one vassal, safe to read from any thread. Times are empty when the
 * thing never happened.
 *
 * @param monitor the monitor that reported the vassal (a directory, a glob, or a programmatic monitor's id)
 * @param configPath the config file, empty for a config sent over the config pipe
 * @param adopted whether the current (or last) process came from a fork server
 * @param forkServer the fork server it is adopted from, empty for a plain spawn
 * @param pid the current process, 0 when there is none
 * @param respawns how many times it was reloaded or started again after its first start
 * @param born when the current process started
 * @param lastModified the config's modification time, as the monitor reported it
 * @param cursed when the Emperor condemned the current process (stop sent, or its pipe closed)
 * @param onDemand the on-demand socket address, empty for an ordinary vassal
 * @param blacklisted whether it is on the blacklist (died before it was loyal, not loyal since)
 * @param uid owner of the config file (the Emperor's own uid for a config sent over the pipe)
 * @param httpUrl the vassal's http-socket from its ini, as a URL (best effort)
 * @param generation for a base vassal, the code generation its process runs (1 at the first start,
 *     one more per deploy); 0 for other vassals
 * @param baseGeneration for an adopted vassal, the generation of the base that forked it; 0 if unknown
 */
public record VassalView(
    String name,
    String monitor,
    Optional<Path> configPath,
    boolean adopted,
    Optional<Path> forkServer,
    VassalState state,
    int pid,
    boolean ready,
    boolean accepting,
    boolean loyal,
    int respawns,
    Optional<Instant> born,
    Optional<Instant> lastModified,
    Optional<Instant> lastHeartbeat,
    Optional<Instant> lastReady,
    Optional<Instant> lastAccepting,
    Optional<Instant> lastLoyal,
    Optional<Instant> firstRun,
    Optional<Instant> lastRun,
    Optional<Instant> cursed,
    Optional<String> onDemand,
    boolean blacklisted,
    int uid,
    int gid,
    Map<String, String> attributes,
    Optional<URI> httpUrl,
    int generation,
    int baseGeneration) {}
