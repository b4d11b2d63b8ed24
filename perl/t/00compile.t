use strict;
use warnings;
use Test::More;

my @modules = qw(
    Vassal Vassal::XS Vassal::Packet Vassal::Config Vassal::Log Vassal::Emperor
    Vassal::ForkServer Vassal::Listener Vassal::Worker Vassal::Server Vassal::Runner
    Plack::Handler::Vassal
);
use_ok $_ for @modules;

can_ok 'Vassal::XS', qw(recv_request peer_cred send_fds packet_encode packet_decode
    array_encode array_decode dict_encode dict_decode set_pdeathsig set_child_subreaper set_cloexec);

done_testing;
