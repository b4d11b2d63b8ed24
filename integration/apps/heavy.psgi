# heavy.psgi - stands in for "a large shared code base".
#
# At load time it pulls in a handful of big frameworks (without building
# applications from them) and builds a 400,000-entry in-memory table, so that
# loading costs about 2 s and ~260 MB RSS.  A base vassal that preloads this
# file lets every adopted (forked) vassal share those pages copy-on-write.
#
# Routes:
#   GET /            200 text/plain: pid, table size, 3 random entries
#   GET /?n=N        same with N random entries (1..1000)
#   GET /entry/I     200 text/plain: entry number I (404 if out of range)
#   GET /stats       200 text/plain: key=value lines (pid, entries, bytes, ...)
use strict;
use warnings;

require Moose;
require Dancer2;
require Mojolicious;
require DateTime;
require Template;
require Catalyst;

package HeavyApp;

use constant {
    ENTRIES    => 400_000,
    # Fixed record width in bytes (tuned so the whole load is ~260 MB RSS).
    RECORD_LEN => $ENV{HEAVY_RECORD_LEN} || 392,
};

# ---------------------------------------------------------------------------
# The table: ONE big string of ENTRIES fixed-width records, entry $i living at
# byte offset $i * RECORD_LEN (records are space padded).
#
# Why not a hash/array of 400,000 scalars?  Reading Perl scalars is not
# read-only at the memory level: refcount bumps on temporaries, numeric or
# string "upgrades" (e.g. using a string entry as a number caches an IV/NV in
# the SV and sets flags), pos()/magic, and the 5.20+ COW string counter all
# write into the SV heads/bodies, which are scattered over every page of the
# table.  After fork, each such write un-shares a 4 KB page, and a few
# thousand random requests would slowly copy the whole table into every
# worker.  With a single packed string the only SV is $TABLE itself; its
# ~150 MB buffer is a separate malloc (mmap) region that is only ever READ:
# entries are fetched with rvalue substr(), which copies the bytes into a new
# small scalar and never touches the buffer.  (Never assign $TABLE to another
# variable, use it as a number, or apply regexes with pos() to it: a plain
# string copy would make it a shared-COW string and write the COW refcount.)
# ---------------------------------------------------------------------------
our $TABLE;
{
    my ($n, $w) = (ENTRIES, RECORD_LEN);
    # Deterministic pseudo-random corpus (no rand() at load time: forked
    # workers must not inherit an already-seeded generator).
    my $corpus = '';
    my $x = 12345;
    my @alpha = ('a' .. 'z', 'A' .. 'Z', '0' .. '9');
    while (length($corpus) < 65536) {
        $x = ($x * 1103515245 + 12345) % 2147483648;
        $corpus .= $alpha[$x % @alpha];
    }
    my $clen = length $corpus;

    # Pre-size the buffer once, then overwrite records in place (4-arg
    # substr), so building never holds a second copy of the table.
    $TABLE = ' ' x ($n * $w);
    my $plen = $w - 32;
    for my $i (0 .. $n - 1) {
        my $head = sprintf 'id=%07d key=k%06x val=', $i, ($i * 2654435761) % 16777216;
        my $rec  = $head . substr($corpus, ($i * 7919) % ($clen - $w), $w - length($head) - 1) . "\n";
        substr($TABLE, $i * $w, $w, $rec);
    }
}

# Read entry $i: a fresh copy of its bytes, trailing padding removed.
sub entry {
    my ($i) = @_;
    return undef if $i < 0 || $i >= ENTRIES;
    my $rec = substr($TABLE, $i * RECORD_LEN, RECORD_LEN);
    $rec =~ s/\s+\z//;
    return $rec;
}

my $seeded_pid = 0;

sub random_index {
    if ($seeded_pid != $$) {    # reseed once per process (after fork)
        srand($$ ^ time);
        $seeded_pid = $$;
    }
    return int rand ENTRIES;
}

sub text {
    my ($code, $body) = @_;
    return [$code, ['Content-Type' => 'text/plain; charset=utf-8',
                    'Content-Length' => length $body], [$body]];
}

my $app = sub {
    my $env  = shift;
    my $path = $env->{PATH_INFO} // '/';
    $path = '/' if $path eq '';
    return text(405, "method not allowed\n")
        unless $env->{REQUEST_METHOD} eq 'GET' || $env->{REQUEST_METHOD} eq 'HEAD';

    if ($path eq '/') {
        my ($n) = ($env->{QUERY_STRING} // '') =~ /(?:^|&)n=(\d+)/;
        $n = 3 unless defined $n;
        $n = 1 if $n < 1;
        $n = 1000 if $n > 1000;
        my $body = "pid=$$\nentries=" . ENTRIES . "\nn=$n\n";
        for (1 .. $n) {
            my $i = random_index();
            $body .= "[$i] " . entry($i) . "\n";
        }
        return text(200, $body);
    }
    if ($path =~ m{^/entry/(\d+)\z}) {
        my $e = entry($1);
        return text(404, "no such entry\n") unless defined $e;
        return text(200, "$e\n");
    }
    if ($path eq '/stats') {
        return text(200, join '', map "$_\n",
            "pid=$$", 'entries=' . ENTRIES, 'record_len=' . RECORD_LEN,
            'table_bytes=' . length($TABLE));
    }
    return text(404, "not found\n");
};

$app;
