package io.psgivassal.emperor.api;

import java.nio.file.Path;
import java.time.Instant;
import java.util.List;

/**
 * A deploy in progress, as the stats show it: which base, onto which generation, and how far.
 *
 * @param rolling the new base serves its fork server and vassals are moving (false: it still loads)
 * @param moving vassals whose new generation is starting now
 * @param moved vassals already on the new generation
 * @param failed vassals whose new generation died before it accepted (they keep the old one)
 */
public record DeployView(String base, Path forkServer, int generation, Instant started, boolean rolling, int moving,
    int moved, List<String> failed) {
  public DeployView {
    failed = List.copyOf(failed);
  }
}
