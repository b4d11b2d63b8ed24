package io.psgivassal.emperor.core;

import io.psgivassal.emperor.api.VassalSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the Emperor derives from a vassal's config: its [uwsgi] section and, for a file, the
 * file's owner. Reading a file may block (an NFS mount that stops answering), so for a {@link
 * VassalSpec.FileConfig} it is read on the Emperor's I/O thread, never on the event loop; a
 * {@link VassalSpec.TextConfig} is parsed anywhere.
 */
record ConfigFacts(UwsgiIni ini, int uid, int gid) {
  /** How a config file is read; a test puts a reader here that blocks, as a hung file system would. */
  interface Reader {
    String read(Path file) throws IOException;
  }

  static volatile Reader reader = file -> Files.readString(file, StandardCharsets.UTF_8);

  /** Reads (for a file: may block) what {@code spec}'s config says. */
  static ConfigFacts of(VassalSpec spec) {
    if (spec.config() instanceof VassalSpec.FileConfig f) {
      UwsgiIni ini;
      try {
        ini = UwsgiIni.parse(reader.read(f.path()));
      } catch (IOException | RuntimeException e) {
        ini = UwsgiIni.parse("");
      }
      int uid = Vassal.ownUid();
      int gid = Vassal.ownGid();
      try {
        uid = (Integer) Files.getAttribute(f.path(), "unix:uid");
        gid = (Integer) Files.getAttribute(f.path(), "unix:gid");
      } catch (IOException | RuntimeException gone) {
        // the file vanished meanwhile: the monitor reports that next
      }
      return new ConfigFacts(ini, uid, gid);
    }
    if (spec.config() instanceof VassalSpec.TextConfig t) {
      return new ConfigFacts(UwsgiIni.parse(t.text()), Vassal.ownUid(), Vassal.ownGid());
    }
    return new ConfigFacts(UwsgiIni.parse(""), Vassal.ownUid(), Vassal.ownGid());
  }

  /** Whether reading it touches the file system (and so belongs on the I/O thread). */
  static boolean needsIo(VassalSpec spec) {
    return spec.config() instanceof VassalSpec.FileConfig;
  }
}
