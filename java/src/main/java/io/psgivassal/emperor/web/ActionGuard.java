package io.psgivassal.emperor.web;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * Who may act on the vassals: a POST carrying {@code Authorization: Bearer TOKEN}, TOKEN being the
 * token file's content, from no other origin than the dashboard's own. The page sends the token
 * in that header (never a cookie), which a cross-site form or link cannot do; a request that says
 * it comes from another origin ({@code Origin}, {@code Sec-Fetch-Site}) is refused even with the
 * token. Without a token file every action is refused.
 */
final class ActionGuard {
  private final Optional<byte[]> token;

  private ActionGuard(Optional<byte[]> token) {
    this.token = token;
  }

  static ActionGuard none() {
    return new ActionGuard(Optional.empty());
  }

  /** @throws IllegalArgumentException naming the file, when it cannot be read or holds no token */
  static ActionGuard fromFile(Path file) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8).strip();
    } catch (IOException e) {
      throw new IllegalArgumentException("--emperor-web-token-file " + file + ": cannot read it (" + e + ")", e);
    }
    if (text.isEmpty() || text.contains("\n")) {
      throw new IllegalArgumentException("--emperor-web-token-file " + file + ": expected one line with the token");
    }
    return new ActionGuard(Optional.of(text.getBytes(StandardCharsets.UTF_8)));
  }

  boolean enabled() {
    return token.isPresent();
  }

  /** Null when {@code ex} may act, else why not (the answer is 403, or 405 for a method other than POST). */
  String refusal(HttpExchange ex) {
    if (token.isEmpty()) {
      return "actions are disabled: the Emperor runs without --emperor-web-token-file";
    }
    String origin = ex.getRequestHeaders().getFirst("Origin");
    String host = ex.getRequestHeaders().getFirst("Host");
    if (origin != null && !(host != null && origin.equals("http://" + host))) {
      return "refused: the request comes from another origin (" + origin + ")";
    }
    String site = ex.getRequestHeaders().getFirst("Sec-Fetch-Site");
    if (site != null && !site.equals("same-origin") && !site.equals("none")) {
      return "refused: the request comes from another site (" + site + ")";
    }
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    if (auth == null || !auth.startsWith("Bearer ")) {
      return "refused: no token (send Authorization: Bearer TOKEN)";
    }
    byte[] given = auth.substring(7).strip().getBytes(StandardCharsets.UTF_8);
    if (!MessageDigest.isEqual(given, token.get())) {
      return "refused: wrong token";
    }
    return null;
  }
}
