package io.psgivassal.emperor.api;

import java.util.List;

/**
 * The whole Emperor at one moment, as uWSGI's {@code --emperor-stats} reports it (PROTOCOL.md §7).
 *
 * @param monitors the monitors' ids (uWSGI's "emperor" list)
 * @param throttleLevelSeconds the base throttle (--emperor-throttle) in seconds, uWSGI's top-level throttle_level
 */
public record EmperorStatus(String version, long pid, int uid, int gid, String cwd, List<String> monitors,
    long throttleLevelSeconds, List<VassalView> vassals, List<BlacklistEntry> blacklist, List<DeployView> deploys) {
  public EmperorStatus {
    monitors = List.copyOf(monitors);
    vassals = List.copyOf(vassals);
    blacklist = List.copyOf(blacklist);
    deploys = List.copyOf(deploys);
  }
}
