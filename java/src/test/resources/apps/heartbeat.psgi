# hello.psgi plus heartbeats, for the Emperor's heartbeat tests. psgi-vassal has no
# `heartbeat` option yet (issue 3 adds it), so this app's load-time code, which runs
# in the vassal's master, sends byte 26 on the Emperor pipe every 200 ms (SIGALRM).
# Workers are forked later and inherit no alarm, so only the master beats.
use strict;
use warnings;
use Time::HiRes ();

if (defined $ENV{UWSGI_EMPEROR_FD}) {
    open(our $EMPEROR, '>&=', $ENV{UWSGI_EMPEROR_FD}) or die "heartbeat.psgi: Emperor fd: $!";
    my $master = $$;
    $SIG{ALRM} = sub {
        return unless $$ == $master;
        syswrite $EMPEROR, chr(26);
        Time::HiRes::alarm(0.2);
    };
    Time::HiRes::alarm(0.2);
}

sub {
    my $body = "Hello from pid $$\n";
    [200, ['Content-Type' => 'text/plain', 'Content-Length' => length $body], [$body]];
};
